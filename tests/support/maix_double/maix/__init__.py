"""A recording test double of the small part of MaixPy's `maix` API that the generated app uses.

MaixPy's x86 wheel needs glibc 2.38 and cannot import on these machines, so the app's main.py
runs against this stand-in: for each frame of the JSON file named by $MAIX_DOUBLE_DETECTIONS,
the detector returns the objects listed there, or, where the frame names an .npz of the model's
three head outputs, what the runtime makes of them at the thresholds the app passes (decoded by
posepipe.device.decoder, the runtime's post-processing reproduced). `app.need_exit()` turns true after
those frames, and every drawing call is appended to the JSON lines file $MAIX_DOUBLE_RECORD.
`__version__` is $MAIX_DOUBLE_VERSION, the device's MaixPy release the app is started on.
"""

import json
import os
from types import SimpleNamespace

__version__ = os.environ.get("MAIX_DOUBLE_VERSION", "4.12.5")
_FRAMES = json.loads(open(os.environ["MAIX_DOUBLE_DETECTIONS"]).read())
_frame = {"index": -1}


def _record(*call):
    with open(os.environ["MAIX_DOUBLE_RECORD"], "a") as f:
        f.write(json.dumps(call) + "\n")


class _Image:
    def draw_rect(self, x, y, w, h, color, thickness=1):
        _record("rect", x, y, w, h)

    def draw_string(self, x, y, text, color, scale=1):
        _record("string", x, y, text)

    def draw_line(self, x1, y1, x2, y2, color, thickness=1):
        _record("line", x1, y1, x2, y2)

    def draw_circle(self, x, y, radius, color, thickness=1):
        _record("circle", x, y)


class _Camera:
    def __init__(self, width, height, format):
        _record("camera", width, height, format)

    def read(self):
        return _Image()


class _Display:
    def show(self, img):
        _record("show")


_OBJECT_FIELDS = ("x", "y", "w", "h", "class_id", "score", "points")


class _Detector:
    labels = ["thing", "other"]

    def __init__(self, model, dual_buff=True):
        _record("detector", self.__class__.__name__, os.path.basename(model))

    def input_width(self):
        return 320

    def input_height(self):
        return 224

    def input_format(self):
        return "RGB888"

    def detect(self, img, conf_th=0.5, iou_th=0.45, keypoint_th=0.5):
        _record("detect", conf_th, iou_th, keypoint_th)
        frame = _FRAMES[_frame["index"]]
        if isinstance(frame, dict):
            import numpy as np
            from posepipe.device import decoder

            with np.load(frame["head_outputs"]) as saved:
                outputs = [saved[name] for name in saved.files]
            size = (self.input_height(), self.input_width())
            found = decoder.decode(outputs, size, conf_th=conf_th, iou_th=iou_th, keypoint_th=keypoint_th)
            return [SimpleNamespace(**{key: getattr(d, key) for key in _OBJECT_FIELDS}) for d in found]
        return [SimpleNamespace(**obj) for obj in frame]


class YOLOv8(_Detector):
    pass


class YOLO11(_Detector):
    pass


def _need_exit():
    _frame["index"] += 1
    return _frame["index"] >= len(_FRAMES)


def _set_exit_msg(code, msg):
    _record("exit_msg", code, msg)
    return code


app = SimpleNamespace(need_exit=_need_exit, set_exit_msg=_set_exit_msg)
camera = SimpleNamespace(Camera=_Camera)
display = SimpleNamespace(Display=_Display)
err = SimpleNamespace(Err=SimpleNamespace(ERR_NOT_IMPL="ERR_NOT_IMPL"))
image = SimpleNamespace(COLOR_RED="red", COLOR_GREEN="green")
nn = SimpleNamespace(YOLOv8=YOLOv8, YOLO11=YOLO11)
time = SimpleNamespace(fps=lambda: 30.0)
