"""Runs a generated main.py inside the Debian 13 root, against the real MaixPy (build-root.sh):
the real `image`, `display` (SDL's dummy driver), `app`, `time` and `nn.MUD`; the two parts
that cannot run on this machine are named fakes:

- `FakeDetector` for `nn.YOLOv8` / `nn.YOLO11` (they raise "NN not support this platform"
  here): it parses the shipped .mud with the real `nn.MUD`, and its detect() returns real
  `nn.Objects` holding the objects the spec gives for that frame (the device decoder's output,
  computed outside);
- `FakeCamera` for `camera.Camera` (no camera device): each read() is the next frame's image,
  loaded and resized by the real `image`; after the last frame it sets the app's exit flag.

Every shown frame is saved, after the app drew on it, and so is each frame as the camera gave
it, with a record of what the fakes saw. Usage: python run_app.py SPEC.json (Python 3.13 of
the root; SPEC names the app folder, the frames and the output folder)."""

import json
import runpy
import sys

from maix import app, camera, display, image, nn

SPEC = json.loads(open(sys.argv[1]).read())
RECORD = {"detectors": [], "detect": [], "cameras": []}


class FakeDetector:
    """nn.YOLOv8 / nn.YOLO11 as far as the app uses them, with the real nn.MUD reading the model."""

    def __init__(self, model: str = "", dual_buff: bool = True):
        mud = nn.MUD(model)
        extra = mud.items["extra"]
        self.labels = mud.parse_labels()
        RECORD["detectors"].append(
            {"class": type(self).__name__, "mud_type": mud.type, "extra": dict(extra), "labels": list(self.labels)}
        )
        self._frame = 0

    def input_width(self) -> int:
        return SPEC["input_size"][1]

    def input_height(self) -> int:
        return SPEC["input_size"][0]

    def input_format(self) -> image.Format:
        return image.Format.FMT_RGB888

    def detect(self, img, conf_th=0.5, iou_th=0.45, fit=image.Fit.FIT_CONTAIN, keypoint_th=0.5, sort=0):
        RECORD["detect"].append([conf_th, iou_th, keypoint_th])
        objects = nn.Objects()
        for found in SPEC["frames"][self._frame]["objects"]:
            objects.add(*(found[key] for key in ("x", "y", "w", "h", "class_id", "score", "points")))
        self._frame += 1
        return objects


class YOLOv8(FakeDetector):
    pass


class YOLO11(FakeDetector):
    pass


class FakeCamera:
    """camera.Camera: the spec's frames, in turn, at the size the app opens the camera with."""

    def __init__(self, width: int = -1, height: int = -1, format=image.Format.FMT_RGB888, *args, **kwargs):
        RECORD["cameras"].append([width, height, str(format)])
        self.size = (width, height)
        self._frame = 0

    def read(self, *args, **kwargs) -> image.Image:
        frame = image.load(SPEC["frames"][self._frame]["image"], image.Format.FMT_RGB888).resize(*self.size)
        frame.save(f"{SPEC['out']}/camera-{self._frame}.png")
        self._frame += 1
        if self._frame == len(SPEC["frames"]):
            app.set_exit_flag(True)
        return frame


class SavingDisplay:
    """The real display (SDL, dummy driver), saving every frame it is shown."""

    def __init__(self, *args, **kwargs):
        self._display = REAL_DISPLAY(*args, **kwargs)
        self._shown = 0

    def show(self, img: image.Image, *args, **kwargs):
        img.save(f"{SPEC['out']}/shown-{self._shown}.png")
        self._shown += 1
        return self._display.show(img, *args, **kwargs)


REAL_DISPLAY = display.Display
nn.YOLOv8, nn.YOLO11 = YOLOv8, YOLO11
camera.Camera = FakeCamera
display.Display = SavingDisplay
try:
    runpy.run_path(f"{SPEC['app']}/main.py", run_name="__main__")
finally:
    with open(f"{SPEC['out']}/record.json", "w") as out:
        json.dump(RECORD, out)
