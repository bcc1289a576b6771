"""Checks several test files make: files the same bytes, Ultralytics loading what was
converted, keypoints on drawn markers, a plain reference of the device's box decoding, and head
outputs built to show chosen objects."""

import hashlib
import json
from pathlib import Path

import numpy as np
from posepipe.tpu_mlir.commands import settings_for_tools, transform_args


def write_json(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def assert_ultralytics_loads_what_was_converted(dataset: Path) -> dict:
    """The converter's invariant, checked with Ultralytics' own loader (`YOLODataset` on the
    written data.yaml): for every split, the images it loads and the instances it finds in each
    equal the label files written, and their totals equal what the conversion reports."""
    from ultralytics.data.dataset import YOLODataset
    from ultralytics.data.utils import check_det_dataset

    data = check_det_dataset(str(dataset / "data.yaml"))
    reported = data["posepipe"]["splits"]
    for split, counts in reported.items():
        loaded = YOLODataset(img_path=data[split], data=data, task="pose", augment=False, imgsz=64)
        found = {
            Path(f).relative_to(dataset / "images" / split): len(label["cls"])
            for f, label in zip(loaded.im_files, loaded.labels)
        }
        written = {
            p.relative_to(dataset / "images" / split): p for p in (dataset / "images" / split).rglob("*") if p.is_file()
        }
        assert sorted(found) == sorted(written), f"{split}: Ultralytics loads other images than were written"
        for image, count in found.items():
            label = (dataset / "labels" / split / image).with_suffix(".txt")
            lines = [line for line in label.read_text().splitlines() if line.strip()]
            assert count == len(lines), f"{split}/{image}: Ultralytics loads {count} of {len(lines)} instances"
        assert len(found) == counts["images"] and sum(found.values()) == counts["instances"], (split, counts)
        assert sum(1 for c in found.values() if c == 0) == counts["backgrounds"], (split, counts)
    return reported


# Geometric truth for conversions: a marker of its own colour at every keypoint of an image,
# found again in the image as Ultralytics reads it after conversion.
MARKER_COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]


MARKER_SIDE = 3  # markers are 7 x 7 px: JPEG blurs their edges, not their middle


def assert_same_bytes(a: Path, b: Path, what: str = "") -> None:
    """The two files hold the same bytes; if not, a one-line failure naming them and where they
    part (short enough that CI's tail shows which files it was, not a dump of their bytes)."""
    first, second = Path(a).read_bytes(), Path(b).read_bytes()
    if first == second:
        return
    at = next((i for i, (x, y) in enumerate(zip(first, second)) if x != y), min(len(first), len(second)))
    digests = [hashlib.sha256(data).hexdigest()[:12] for data in (first, second)]
    raise AssertionError(
        f"{what + ': ' if what else ''}{a} ({len(first)} B, {digests[0]}) and {b} ({len(second)} B, "
        f"{digests[1]}) differ from byte {at}"
    )


def marked_pixels(size: tuple[int, int], points: list[tuple[float, float]]):
    """An RGB array of `size` (width, height), grey, with keypoint j's marker at points[j]."""
    import numpy as np

    pixels = np.full((size[1], size[0], 3), 128, dtype=np.uint8)
    for (x, y), colour in zip(points, MARKER_COLOURS):
        pixels[int(y) - MARKER_SIDE : int(y) + MARKER_SIDE + 1, int(x) - MARKER_SIDE : int(x) + MARKER_SIDE + 1] = (
            colour
        )
    return pixels


def marker_centres(image) -> list[tuple[float, float]]:
    """Where each marker is in an RGB image: the centre of the pixels of its colour."""
    import numpy as np

    centres = []
    for colour in MARKER_COLOURS:
        close = (np.abs(image.astype(int) - colour).max(axis=2) < 60).nonzero()
        centres.append((close[1].mean() + 0.5, close[0].mean() + 0.5))
    return centres


def assert_keypoints_on_their_markers(dataset: Path, image: str, split: str = "train") -> int:
    """Every labelled keypoint of every label row of `image` on its marker, and inside its box,
    in the image as Ultralytics reads it (its own imread). Returns the keypoints checked."""
    import numpy as np
    from posepipe.dataset.label_text import read_label_file
    from ultralytics.utils.patches import imread

    pixels = imread(str(dataset / "images" / split / image))[..., ::-1]  # BGR -> RGB
    h, w = pixels.shape[:2]
    checked = 0
    for row in read_label_file((dataset / "labels" / split / image).with_suffix(".txt")):
        cx, cy, bw, bh = row[1] * w, row[2] * h, row[3] * w, row[4] * h
        for index, colour in enumerate(MARKER_COLOURS[: (len(row) - 5) // 3]):
            x, y, v = row[5 + 3 * index : 8 + 3 * index]
            if v == 0:
                continue
            pixel = pixels[int(y * h), int(x * w)].astype(int)
            assert np.abs(pixel - colour).max() < 60, (
                f"{image}: keypoint {index} at ({x * w:.1f}, {y * h:.1f}) on {pixel}"
            )
            assert abs(x * w - cx) <= bw / 2 and abs(y * h - cy) <= bh / 2, f"{image}: keypoint {index} outside its box"
            checked += 1
    assert checked, f"{image}: no labelled keypoint to check"
    return checked


IOU_TH = 0.45


def box_iou(a, b) -> float:
    wi = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    hi = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = wi * hi
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def device_reference(output0: np.ndarray, conf: float, nc: int, size: tuple[int, int]):
    """The device's integer rules applied, independently of posepipe's decoder, to Ultralytics'
    own decoded head (`output0` of the full ONNX: centre-size boxes in pixels, class scores):
    score and class the first maximum over the classes, int-truncated corner and size, NMS per
    class on the int boxes, highest score first, then the clip to the input (`size`, h x w).

    Returns the kept (x, y, w, h, score, class), every candidate (scores down to conf - 1e-3),
    and whether any decision is fragile: a score within 1e-3 of `conf`, or a same-class pair
    whose int IoU sits within 0.1 of the IoU threshold while one of its coordinates lies within
    1e-3 of an integer, where float rounding (ONNX Runtime's last bits) may truncate to the
    neighbouring integer."""
    head = output0[0]
    scores, classes = head[4 : 4 + nc].max(axis=0), head[4 : 4 + nc].argmax(axis=0)
    fragile = bool((np.abs(scores - conf) < 1e-3).any())
    candidates, kept = [], []
    for i in np.argsort(-scores, kind="stable"):
        if scores[i] <= conf - 1e-3:
            break
        cx, cy, w, h = (float(v) for v in head[:4, i])
        exact = (cx - w / 2, cy - h / 2, w, h)
        near_integer = any(abs(v - round(v)) < 1e-3 for v in exact)
        box = (*(int(v) for v in exact), float(scores[i]), int(classes[i]))
        candidates.append(_clipped(box, size))
        if scores[i] <= conf:
            continue
        overlaps = [(box_iou(_corners(box), _corners(k)), k_near) for k, k_near in kept if k[5] == box[5]]
        if any(abs(iou - IOU_TH) < 0.1 and (near_integer or k_near) for iou, k_near in overlaps):
            fragile = True
        if all(iou <= IOU_TH for iou, _ in overlaps):
            kept.append((box, near_integer))
    return [_clipped(box, size) for box, _ in kept], candidates, fragile


def _corners(box: tuple) -> tuple:
    return box[0], box[1], box[0] + box[2], box[1] + box[3]


def _clipped(box: tuple, size: tuple[int, int]) -> tuple:
    """The device's clip of an int (x, y, w, h, ...) box to the input, after NMS."""
    height, width = size
    x, y, w, h, *rest = box
    if x < 0:
        w, x = w + x, 0
    if y < 0:
        h, y = h + y, 0
    return x, y, min(w, width - x), min(h, height - y), *rest


# what a model_transform of the tests is configured with
CONFIGURED = {"processor": "cv181x", "transform_tolerance": [0.99, 0.99], "tpu_mlir_version": "1.28.1"}


def transform_flags(height: int, width: int) -> dict[str, str]:
    """The flags model_transform is told, with their values."""
    args = transform_args(settings_for_tools(CONFIGURED, "m", height, width, ["a", "b", "c"]), "m.onnx", "t.jpg")
    return {args[i]: args[i + 1] for i in range(1, len(args) - 1) if args[i].startswith("--")}


def head_outputs(
    height: int, width: int, objects: list[tuple[int, float, list[float]]], k: int, classes: int = 2, offsets=None
) -> list[np.ndarray]:
    """The three head outputs of a pruned pose model that sees `objects` (anchor, score of class 0,
    visibility logit of each keypoint): a 16 x 16 box around each anchor's cell, and keypoint j
    at `offsets[j]` (raw x, y: the runtime places it at (2 raw + cell) x stride), by default
    spread along a diagonal."""
    from posepipe.device import decoder

    offsets = offsets or [(0.25 * j, -0.25 * j) for j in range(k)]
    n = decoder.anchor_count(height, width)
    dfl, scores, keypoints = (
        np.zeros((1, 1, 4, n), np.float32),
        np.zeros((1, classes, n), np.float32),
        np.zeros((1, 3 * k, n), np.float32),
    )
    for anchor, score, logits in objects:
        dfl[0, 0, :, anchor] = 1.0  # 1 stride (8 px) to each side
        scores[0, 0, anchor] = score
        for j, logit in enumerate(logits):
            keypoints[0, 3 * j : 3 * j + 3, anchor] = (*offsets[j], logit)
    return [dfl, scores, keypoints]
