"""The MaixCAM runtime's YOLOv8 / YOLO11 pose post-processing, reproduced in Python.

What MaixCDK's `maix_nn_yolo11.hpp` does (its `YOLOv8` class derives from it), step by step,
so that float figures computed here are the figures the device will produce:
- its input: posepipe.device.input_contract (a centred letterbox, black padding, RGB, x / 255);
- the three outputs are told apart by shape, never by name: DFL distances [1,1,4,N];
  keypoints: another output with shape[1] % 3 == 0 and shape[2] == N (the last such); scores:
  the rest (see split_outputs);
- per anchor: score = max over classes (the first maximum wins), kept when > conf_th;
  box x = (ax + 0.5 - l) * s, w = (ax + 0.5 + r) * s - x (likewise y, h), truncated to int;
- NMS per class on the int boxes, IoU > iou_th suppresses, highest score first; boxes then
  clipped to the input;
- keypoint j kept when sigmoid(v) > keypoint_th: x = (2 * kx + ax) * s truncated to int, else
  (-1, -1);
- everything mapped back to the image: r = min(W / iw, H / ih), pads (W - iw r) / 2 and
  (H - ih r) / 2, coordinates truncated to int, boxes clipped to the image.
"""

from dataclasses import dataclass, field

import numpy as np

STRIDES = (8, 16, 32)


@dataclass
class Detection:
    """One object as the device reports it: int box (x, y, w, h), class, score, int keypoints."""

    x: int | float  # int as on the device; float when decoded with integer=False
    y: int | float
    w: int | float
    h: int | float
    class_id: int
    score: float
    points: list[int | float] = field(default_factory=list)  # x0, y0, x1, y1, ... ; (-1, -1) when dropped
    kept: list[bool] = field(default_factory=list)  # whether each keypoint passed keypoint_th
    visibility: list[float] = field(default_factory=list)  # each keypoint's sigmoid(v), what keypoint_th meets

    @property
    def box_xyxy(self) -> tuple[float, float, float, float]:
        return self.x, self.y, self.x + self.w, self.y + self.h


def anchor_count(height: int, width: int) -> int:
    return sum((height // s) * (width // s) for s in STRIDES)


def score_padding(num_classes: int) -> int:
    """Constant-zero score channels the device needs: the runtime takes any output with a
    multiple of 3 channels for the keypoints (split_outputs), so nc scores become nc + 1 when
    nc is one."""
    return 1 if num_classes % 3 == 0 else 0


def split_outputs(outputs: list[np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dfl [4, N], scores [nc, N], keypoints [3K, N]) told apart exactly as the runtime's
    `YOLO11::load` does: the DFL output by its shape; of the others, one with shape[1] % 3 == 0
    and shape[2] == N is THE keypoint output (a later match overwrites an earlier one), any
    other one the scores. So scores with a multiple of 3 channels are taken for keypoints: the
    pruned model pads them with a zero channel (posepipe.training.prune).

    Accepts the ONNX layouts ([1,1,4,N], [1,nc,N], [1,3K,N]) and the cvimodel's 4-D ones
    ([1,1,4,N], [1,nc,N,1], [1,3K,N,1])."""
    dfl = keypoints = scores = None
    for output in outputs:
        shape = output.shape
        if len(shape) == 4 and shape[1] == 1 and shape[2] == 4 and shape[3] == n:
            dfl = output.reshape(4, n)
        elif shape[1] % 3 == 0 and shape[2] == n:
            keypoints = output.reshape(shape[1], n)
        else:
            scores = output.reshape(shape[1], n)
    if dfl is None or keypoints is None or scores is None:
        shapes = [tuple(o.shape) for o in outputs]
        missing = "DFL" if dfl is None else "score" if scores is None else "keypoint"
        raise ValueError(
            f"outputs {shapes}: the runtime finds no {missing} output "
            f"(DFL [1,1,4,{n}], keypoints [1,3K,{n}], scores [1,nc,{n}] with nc not a multiple of 3)"
        )
    return dfl, scores, keypoints


def anchors(height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grid x, grid y (integer cell indices) and stride of every anchor, in output order."""
    xs, ys, strides = [], [], []
    for s in STRIDES:
        nh, nw = height // s, width // s
        gy, gx = np.mgrid[0:nh, 0:nw]
        xs.append(gx.ravel())
        ys.append(gy.ravel())
        strides.append(np.full(nh * nw, s, dtype=np.float32))
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(strides)


def _iou(a: Detection, b: Detection) -> float:
    area_a, area_b = float(a.w * a.h), float(b.w * b.h)
    wi = float(min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    hi = float(min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    inter = max(wi, 0.0) * max(hi, 0.0)
    union = area_a + area_b - inter
    return inter / union if union > 0 else 0.0


def _clip(d: Detection, width: int, height: int) -> None:
    if d.x < 0:
        d.w += d.x
        d.x = 0
    if d.y < 0:
        d.h += d.y
        d.y = 0
    if d.x + d.w > width:
        d.w = width - d.x
    if d.y + d.h > height:
        d.h = height - d.y


def decode(
    outputs: list[np.ndarray],
    input_size: tuple[int, int],
    image_size: tuple[int, int] | None = None,
    *,
    conf_th: float,
    iou_th: float,
    keypoint_th: float,
    integer: bool = True,
) -> list[Detection]:
    """Detections from the three head outputs; `input_size` and `image_size` are (height, width).
    The thresholds are the runtime's `detect()` arguments, compared as it compares them.

    `integer=False` keeps coordinates as floats (everything else unchanged): the device's
    truncation moves a corner by up to 2 px, which is the only difference it makes."""
    number = int if integer else float
    height, width = input_size
    n = anchor_count(height, width)
    dfl, scores, raw_keypoints = (np.asarray(a, dtype=np.float32) for a in split_outputs(outputs, n))
    grid = anchors(height, width)
    candidates = _boxes_above(dfl, scores, grid, conf_th, number)
    detections = []
    for i, detection in _non_maximum_suppressed(candidates, iou_th):
        _clip(detection, width, height)
        _add_keypoints(detection, raw_keypoints[:, i], grid[0][i], grid[1][i], grid[2][i], keypoint_th, number)
        detections.append(detection)
    if image_size is not None and tuple(image_size) != (height, width):
        _to_image(detections, (height, width), image_size, number)
    return detections


def _boxes_above(dfl: np.ndarray, scores: np.ndarray, grid: tuple, conf_th: float, number) -> list:
    """(anchor, detection) of every anchor whose best class score is above conf_th, highest first."""
    gx, gy, strides = grid
    class_ids = scores.argmax(axis=0)  # numpy's argmax, like the runtime's, takes the first maximum
    best = scores[class_ids, np.arange(scores.shape[1])]
    candidates = []
    for i in np.flatnonzero(best > conf_th):
        s = strides[i]
        x1 = (np.float32(gx[i]) + np.float32(0.5) - dfl[0, i]) * s
        y1 = (np.float32(gy[i]) + np.float32(0.5) - dfl[1, i]) * s
        w = (np.float32(gx[i]) + np.float32(0.5) + dfl[2, i]) * s - x1
        h = (np.float32(gy[i]) + np.float32(0.5) + dfl[3, i]) * s - y1
        detection = Detection(number(x1), number(y1), number(w), number(h), int(class_ids[i]), float(best[i]))
        candidates.append((i, detection))
    candidates.sort(key=lambda item: -item[1].score)  # stable: equal scores keep anchor order
    return candidates


def _non_maximum_suppressed(candidates: list, iou_th: float) -> list:
    """The candidates no higher-scoring one of their class overlaps by more than iou_th."""
    suppressed = [False] * len(candidates)
    for a in range(len(candidates)):
        if suppressed[a]:
            continue
        for b in range(a + 1, len(candidates)):
            same_class = candidates[a][1].class_id == candidates[b][1].class_id
            if not suppressed[b] and same_class and _iou(candidates[a][1], candidates[b][1]) > iou_th:
                suppressed[b] = True
    return [candidate for candidate, gone in zip(candidates, suppressed) if not gone]


def _add_keypoints(detection: Detection, raw: np.ndarray, gx, gy, s, keypoint_th: float, number) -> None:
    """The anchor's keypoints (raw: its 3K values), (-1, -1) where the visibility is not above keypoint_th."""
    for j in range(len(raw) // 3):
        score = 1.0 / (1.0 + np.exp(-raw[3 * j + 2]))
        visible = score > keypoint_th
        if visible:
            detection.points += [
                number((raw[3 * j] * np.float32(2.0) + np.float32(gx)) * s),
                number((raw[3 * j + 1] * np.float32(2.0) + np.float32(gy)) * s),
            ]
        else:
            detection.points += [-1, -1]
        detection.kept.append(bool(visible))
        detection.visibility.append(float(score))


def _to_image(detections: list[Detection], input_size: tuple[int, int], image_size: tuple[int, int], number) -> None:
    """FIT_CONTAIN correction: input coordinates back to the original image's, as ints."""
    height, width = input_size
    img_h, img_w = image_size
    scale = np.float32(min(np.float32(width) / np.float32(img_w), np.float32(height) / np.float32(img_h)))
    reverse = np.float32(1.0) / scale
    pad_w = (np.float32(width) - np.float32(img_w) * scale) / np.float32(2.0)
    pad_h = (np.float32(height) - np.float32(img_h) * scale) / np.float32(2.0)
    for d in detections:
        d.x = number((d.x - pad_w) * reverse)
        d.y = number((d.y - pad_h) * reverse)
        d.w = number(d.w * reverse)
        d.h = number(d.h * reverse)
        d.points = [
            number((p - (pad_w if index % 2 == 0 else pad_h)) * reverse) for index, p in enumerate(d.points)
        ]  # dropped points are mapped too, as on the device; `kept` tells them apart
        _clip(d, img_w, img_h)
