"""The app's thresholds, chosen by measures that respond to them: F1 on the val images.

Pose mAP cannot choose keypoint_th: OKS ignores a predicted keypoint wherever the ground truth
leaves it unlabelled, so the figure can only fall as the threshold rises, and its "best" is
always the lowest. What keypoint_th decides on the device is which keypoints get drawn, so it
is chosen by the F1 of "drawn" (visibility > keypoint_th, as the runtime compares) against
"labelled" (v > 0: what Ultralytics trains the visibility output on), over every keypoint of
the detections matched to a ground-truth object at the app's conf_th. conf_th is chosen by the
detection F1: a detection above it is a true positive when Ultralytics' own matching paired it
with an object at box IoU 0.5. Every point of both curves carries a bootstrap interval over the
val images (posepipe.evaluation.bootstrap's draws), so a user sees whether the val split can tell them apart.
"""

import numpy as np

from posepipe.dataset.boxes import box_iou
from posepipe.evaluation.bootstrap import central_interval, resample_draws

CONF_TH_GRID = tuple(round(0.05 * i, 2) for i in range(1, 20))
KEYPOINT_TH_GRID = tuple(round(0.1 * i, 1) for i in range(10))
MATCH_IOU = 0.5


def detection_counts(per_image: list[dict], grid: tuple[float, ...]) -> np.ndarray:
    """(images, thresholds, 3): true positives, false positives and missed objects of each val
    image's detections scoring above each threshold (per-image stats of validate.score_decoded)."""
    counts = np.zeros((len(per_image), len(grid), 3), dtype=np.int64)
    for i, stats in enumerate(per_image):
        matched, conf, objects = np.asarray(stats["tp"])[:, 0], np.asarray(stats["conf"]), len(stats["target_cls"])
        for j, th in enumerate(grid):
            above = conf > th
            hits = int((matched & above).sum())
            counts[i, j] = hits, int(above.sum()) - hits, objects - hits
    return counts


def matches(detections: list, truth: tuple, conf_th: float) -> list[tuple]:
    """(detection, object index) of the detections above conf_th, each matched to at most one
    ground-truth object of its class at box IoU >= 0.5, highest score first (as the app would
    show them); `truth` is validate's (classes, boxes, keypoints)."""
    gt_cls, gt_boxes, _ = truth
    shown = sorted((d for d in detections if d.score > conf_th), key=lambda d: -d.score)
    iou = box_iou(
        np.array([d.box_xyxy for d in shown], dtype=np.float64).reshape(-1, 4),
        np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4),
    )
    taken, found = set(), []
    for row, detection in enumerate(shown):
        candidates = [
            g for g in np.argsort(-iou[row], kind="stable") if g not in taken and gt_cls[g] == detection.class_id
        ]
        if candidates and iou[row, candidates[0]] >= MATCH_IOU:
            taken.add(candidates[0])
            found.append((detection, int(candidates[0])))
    return found


def matched_keypoints(detections: list, truth: tuple, conf_th: float) -> tuple[np.ndarray, np.ndarray]:
    """(visibility, labelled), each (matched detections, K), of the detections `matches` pairs."""
    gt_keypoints = truth[2]
    k = gt_keypoints.shape[1]
    pairs = matches(detections, truth, conf_th)
    visibility = [detection.visibility for detection, _ in pairs]
    labelled = [gt_keypoints[index, :, 2] > 0 for _, index in pairs]
    return np.array(visibility, dtype=np.float64).reshape(-1, k), np.array(labelled, dtype=bool).reshape(-1, k)


def keypoint_counts(matched: list[tuple[np.ndarray, np.ndarray]], grid: tuple[float, ...]) -> np.ndarray:
    """(images, thresholds, 3): keypoints drawn and labelled, drawn but unlabelled, and labelled
    but not drawn, of each val image's matched detections (matched_keypoints) at each threshold."""
    counts = np.zeros((len(matched), len(grid), 3), dtype=np.int64)
    for i, (visibility, labelled) in enumerate(matched):
        for j, th in enumerate(grid):
            drawn = visibility > th
            counts[i, j] = (drawn & labelled).sum(), (drawn & ~labelled).sum(), (~drawn & labelled).sum()
    return counts


def _f1(totals: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall and F1 of (..., 3) summed counts; 0 where undefined."""
    tp, fp, fn = (totals[..., i].astype(np.float64) for i in range(3))
    precision = np.divide(tp, tp + fp, out=np.zeros_like(tp), where=tp + fp > 0)
    recall = np.divide(tp, tp + fn, out=np.zeros_like(tp), where=tp + fn > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp), where=precision + recall > 0)
    return precision, recall, f1


def f1_curve(counts: np.ndarray, grid: tuple[float, ...], name: str) -> list[dict]:
    """Precision, recall, F1 and F1's bootstrap interval at every threshold of the grid."""
    precision, recall, f1 = _f1(counts.sum(axis=0))
    draws = resample_draws(len(counts))
    resampled = _f1(counts[draws].sum(axis=1))[2] if len(counts) else np.zeros((1, len(grid)))
    low, high = central_interval(resampled)
    return [
        {
            name: th,
            "precision": round(float(precision[j]), 6),
            "recall": round(float(recall[j]), 6),
            "f1": round(float(f1[j]), 6),
            "f1_interval": [round(float(low[j]), 6), round(float(high[j]), 6)],
        }
        for j, th in enumerate(grid)
    ]


def best_on(curve: list[dict], name: str) -> float:
    """The threshold of the highest F1; on a tie the lowest (it shows more)."""
    return max(curve, key=lambda point: (point["f1"], -point[name]))[name]


def with_pinned(grid: tuple[float, ...], pinned: float | None) -> tuple[float, ...]:
    """The grid, and a threshold the config pins, so that the curve states its figures too."""
    return grid if pinned is None else tuple(sorted({*grid, float(pinned)}))
