"""A split's label rows: the arithmetic that must equal Ultralytics' `convert_coco(use_keypoints=
True, cls91to80=False)` to the last bit (the same skip rules and float operations), and the
changes that keep every row loadable (keypoints outside the image made unlabelled, boxes
clipped), reported once per split."""

import logging
from dataclasses import dataclass, replace

import numpy as np

from posepipe.dataset.coco_records import AnnotationRecords, ImageRecords
from posepipe.dataset.images import ORIENTATIONS

log = logging.getLogger("posepipe.dataset.convert")


@dataclass
class Rows:
    """The label rows of a split, the image of each, and what was changed to keep them loadable."""

    rows: np.ndarray
    image: np.ndarray
    keypoints_outside: np.ndarray  # annotation ids with labelled keypoints made unlabelled
    boxes_clipped: np.ndarray  # annotation ids whose box was clipped to the image
    boxes_outside: np.ndarray  # annotation ids skipped: the box lies wholly outside the image
    boxes_derived: np.ndarray  # annotation ids without a bbox: the extent of their labelled keypoints


def label_rows(anns: AnnotationRecords, images: ImageRecords, k: int) -> Rows:
    """The vectorised transform: normalised centre-size boxes and keypoints, the skip rules.
    Only the rows kept are normalised: at COCO scale that is most of this step's time."""
    n = len(anns.ids)
    w = images.widths[anns.image].astype(np.float64)
    h = images.heights[anns.image].astype(np.float64)
    points = anns.keypoints.reshape(n, k, 3)
    x, y, v = points[..., 0], points[..., 1], points[..., 2]
    outside = (x < 0) | (x > w[:, None]) | (y < 0) | (y > h[:, None]) | (v < 0)
    lost = outside & (v != 0)
    labelled_inside = (v != 0) & ~outside
    boxes = anns.boxes if anns.has_box.all() else _with_derived_boxes(anns.boxes, anns.has_box, x, y, labelled_inside)
    x1, y1 = np.maximum(boxes[:, 0], 0), np.maximum(boxes[:, 1], 0)
    x2, y2 = boxes[:, 0] + boxes[:, 2], boxes[:, 1] + boxes[:, 3]
    clipped = (boxes[:, 2] > 0) & (boxes[:, 3] > 0) & ((x1 != boxes[:, 0]) | (y1 != boxes[:, 1]) | (x2 > w) | (y2 > h))
    if clipped.any():  # only clipped boxes get new values: x + w - x is not always w in floating point
        boxes = boxes.copy()
        boxes[clipped] = np.column_stack([x1, y1, np.minimum(x2, w) - x1, np.minimum(y2, h) - y1])[clipped]
    wholly_outside = clipped & ((boxes[:, 2] <= 0) | (boxes[:, 3] <= 0))
    labelled = anns.has_keypoints & labelled_inside.any(axis=1)
    keep = ~anns.crowd & (boxes[:, 2] > 0) & (boxes[:, 3] > 0) & labelled

    # The same float operations as convert_coco, so that the numbers agree to the last bit.
    w, h, boxes, kept_points = w[keep], h[keep], boxes[keep], points[keep]
    rows = np.empty((len(w), 5 + 3 * k))
    rows[:, 0] = anns.classes[keep]
    rows[:, 1] = (boxes[:, 0] + boxes[:, 2] / 2) / w
    rows[:, 2] = (boxes[:, 1] + boxes[:, 3] / 2) / h
    rows[:, 3] = boxes[:, 2] / w
    rows[:, 4] = boxes[:, 3] / h
    normalised = rows[:, 5:].reshape(len(w), k, 3)
    np.divide(kept_points, np.stack([w, h, np.ones(len(w))], axis=1)[:, None, :], out=normalised)
    normalised[outside[keep]] = 0  # unlabelled: Ultralytics would drop the whole image for one such value
    used = ~anns.crowd & anns.has_keypoints  # changes worth a word: on annotations that could be used
    return Rows(
        rows,
        anns.image[keep],
        anns.ids[used & lost.any(axis=1)],
        anns.ids[used & clipped & ~wholly_outside],
        anns.ids[used & wholly_outside],
        anns.ids[used & ~anns.has_box & labelled],
    )


def _with_derived_boxes(boxes: np.ndarray, has_box: np.ndarray, x, y, labelled: np.ndarray) -> np.ndarray:
    """Where an annotation has no bbox, the extent of its labelled keypoints inside the image
    (an annotation with none keeps an empty box, and is skipped as convert_coco skips those)."""
    boxes = boxes.copy()
    derive = ~has_box & labelled.any(axis=1)
    inf = np.where(labelled, 0, np.inf)
    x1, y1 = (x + inf).min(axis=1), (y + inf).min(axis=1)
    x2, y2 = (x - inf).max(axis=1), (y - inf).max(axis=1)
    boxes[derive] = np.column_stack([x1, y1, x2 - x1, y2 - y1])[derive]
    return boxes


def _ids(ids: np.ndarray) -> str:
    return ", ".join(map(str, ids[:5].tolist())) + (", ..." if len(ids) > 5 else "")


def warn_about_changes(split: str, rows: Rows) -> None:
    changes = [
        (
            rows.keypoints_outside,
            "with labelled keypoints outside the image or of negative visibility (made unlabelled)",
        ),
        (rows.boxes_clipped, "with boxes reaching past the image (clipped to it)"),
        (rows.boxes_outside, "with boxes wholly outside the image (skipped)"),
        (rows.boxes_derived, "without a bbox (the extent of their labelled keypoints taken)"),
    ]
    said = [f"{len(ids)} annotations {what}: ids {_ids(ids)}" for ids, what in changes if len(ids)]
    if said:
        log.warning("%s: %s", split, "; ".join(said))


def drop_repeated_rows(rows: np.ndarray, row_image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop rows equal to an earlier row of the same image, as convert_coco does."""
    if len(rows) < 2:
        return rows, row_image
    # Rows can only be equal where image, class and box are: sort on those few columns first.
    keys = np.column_stack([row_image.astype(np.float64), rows[:, :5]])
    order = np.lexsort(keys.T[::-1])
    same_box = (keys[order[1:]] == keys[order[:-1]]).all(axis=1)
    if not same_box.any():
        return rows, row_image
    drop = np.zeros(len(rows), dtype=bool)
    seen: dict[bytes, int] = {}
    candidates = np.union1d(order[1:][same_box], order[:-1][same_box])
    for index in candidates.tolist():  # ascending, so the earliest of equal rows is kept
        key = row_image[index].tobytes() + rows[index].tobytes()
        if key in seen:
            drop[index] = True
        else:
            seen[key] = index
    return rows[~drop], row_image[~drop]


def in_shown_frame(
    anns: AnnotationRecords, images: ImageRecords, orientations: dict[int, int]
) -> tuple[AnnotationRecords, ImageRecords]:
    """The records of images annotated on their stored pixels (index -> EXIF orientation)
    turned into the frame Ultralytics reads them in, the orientation applied: labelled points
    and box corners moved, and the sides swapped for orientations 5 to 8. Unlabelled points stay
    (0, 0); missing boxes stay missing (label_rows derives them from the turned points)."""
    of_image = np.ones(len(images.widths), dtype=np.int64)
    of_image[list(orientations)] = list(orientations.values())
    of_row = of_image[anns.image]
    w, h = images.widths[anns.image].astype(np.float64), images.heights[anns.image].astype(np.float64)
    boxes, keypoints = anns.boxes.copy(), anns.keypoints.copy()
    points = keypoints.reshape(len(keypoints), keypoints.shape[1] // 3, 3)
    x, y = points[..., 0], points[..., 1]  # views: assigning through them moves the points
    point_w, point_h = np.broadcast_to(w[:, None], x.shape), np.broadcast_to(h[:, None], x.shape)
    for orientation in set(orientations.values()):
        turn, rows = ORIENTATIONS[orientation], of_row == orientation
        labelled = rows[:, None] & (points[..., 2] != 0)
        x[labelled], y[labelled] = turn(x[labelled], y[labelled], point_w[labelled], point_h[labelled])
        boxed = rows & anns.has_box
        left, top, width, height = boxes[boxed].T
        x1, y1 = turn(left, top, w[boxed], h[boxed])
        x2, y2 = turn(left + width, top + height, w[boxed], h[boxed])
        boxes[boxed] = np.column_stack([np.minimum(x1, x2), np.minimum(y1, y2), np.abs(x2 - x1), np.abs(y2 - y1)])
    swapped = of_image >= 5
    widths = np.where(swapped, images.heights, images.widths)
    heights = np.where(swapped, images.widths, images.heights)
    return replace(anns, boxes=boxes, keypoints=keypoints), replace(images, widths=widths, heights=heights)
