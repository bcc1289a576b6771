"""Figures of each keypoint that need no OKS sigma: PCK at 0.05 and 0.1 of the object's size,
the median pixel error, and the share of labelled keypoints the device shows, each with its
bootstrap interval over the val images; and the worst keypoint's PCK@0.1 drop of a candidate
from the float model, which the quantization gate holds (evaluation.selection).

An object's size is the square root of its labelled box's area (OKS's scale without Ultralytics'
0.53): unlike the box diagonal it is not dominated by the long side of an elongated object (a
tool, a fish). A labelled keypoint (v > 0) of an object that no detection shown at the app's
conf_th matches counts as not correct for PCK: a keypoint the device never draws is not placed
well; the pixel error and the share shown are taken over the matched objects only."""

import numpy as np

from posepipe.evaluation.bootstrap import central_interval
from posepipe.evaluation.thresholds import matches

PCK_ALPHAS = (0.05, 0.1)
GATE_ALPHA = 0.1  # the PCK the gate holds: 0.05 of the size is within most labellers' own spread


def object_keypoints(detections: list, truth: tuple, conf_th: float, keypoint_th: float) -> dict[str, np.ndarray]:
    """Per labelled object of one image (truth: classes, xyxy boxes, (n, K, 3) pixel keypoints):
    its size, which keypoints are labelled, each one's pixel error where a detection shown at
    `conf_th` matches the object (NaN elsewhere), and whether the device draws it (visibility
    above `keypoint_th`, as the runtime compares)."""
    _, boxes, keypoints = truth
    n, k = keypoints.shape[:2]
    error, shown = np.full((n, k), np.nan), np.zeros((n, k), dtype=bool)
    for detection, index in matches(detections, truth, conf_th):
        points = np.asarray(detection.points, dtype=np.float64).reshape(k, 2)
        error[index] = np.hypot(*(points - keypoints[index, :, :2]).T)
        shown[index] = np.asarray(detection.visibility) > keypoint_th
    sides = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return {
        "kp_size": np.sqrt(np.clip(sides[:, 2] - sides[:, 0], 0, None) * np.clip(sides[:, 3] - sides[:, 1], 0, None)),
        "kp_labelled": keypoints[..., 2] > 0,
        "kp_error": error,
        "kp_shown": shown,
    }


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The median of `values` (n,) under each row of `weights` (draws, n); NaN where a row weighs nothing."""
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[:, order], axis=1)
    total = cumulative[:, -1:] if len(values) else np.zeros((len(weights), 1))
    at = np.minimum((cumulative < total / 2).sum(axis=1), max(len(values) - 1, 0))
    found = values[order][at] if len(values) else np.full(len(weights), np.nan)
    return np.where(total[:, 0] > 0, found, np.nan)


def figures(stats: dict, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Each keypoint's figures (draws, K) over the objects weighted by `weights` (draws, objects):
    one row of ones is the val split itself, a bootstrap draw's counts of its images another."""
    labelled, error, size = stats["kp_labelled"], stats["kp_error"], stats["kp_size"]
    matched = labelled & ~np.isnan(error)
    count = weights @ labelled
    out = {}
    for alpha in PCK_ALPHAS:
        correct = matched & (np.nan_to_num(error, nan=np.inf) < alpha * size[:, None])
        out[f"pck@{alpha}"] = np.divide(weights @ correct, count, out=np.full(count.shape, np.nan), where=count > 0)
    seen = weights @ matched
    shown = weights @ (matched & stats["kp_shown"])
    out["shown"] = np.divide(shown, seen, out=np.full(seen.shape, np.nan), where=seen > 0)
    out["median_px_error"] = np.stack(
        [_weighted_median(error[matched[:, i], i], weights[:, matched[:, i]]) for i in range(labelled.shape[1])], axis=1
    ).reshape(len(weights), -1)
    return out


def object_weights(stats: dict, draws: np.ndarray) -> np.ndarray:
    """(draws, objects): how often each object is in each draw of val images (bootstrap.resample_draws)."""
    per_image = np.zeros((len(draws), len(stats["images"])))
    np.add.at(per_image, (np.arange(len(draws))[:, None], draws), 1)
    return per_image[:, np.repeat(np.arange(len(stats["images"])), np.diff(stats["targets"]))]


def _rounded(value) -> float | None:
    return None if value is None or np.isnan(value) else round(float(value), 6)


def _interval(resampled: np.ndarray) -> list[float | None] | None:
    """The 95% interval of a figure's draws, leaving out draws where it is undefined."""
    defined = resampled[~np.isnan(resampled)]
    if not len(defined):
        return None
    low, high = central_interval(defined)
    return [_rounded(low), _rounded(high)]


def keypoint_table(stats: dict, names: list[str], draws: np.ndarray) -> dict:
    """Each keypoint's figures on the val split with their 95% bootstrap intervals, by name."""
    whole = figures(stats, np.ones((1, len(stats["kp_size"]))))
    resampled = figures(stats, object_weights(stats, draws))
    table = {}
    for i, name in enumerate(names):
        row = {"labelled": int(stats["kp_labelled"][:, i].sum())}
        for figure, values in whole.items():
            row[figure] = _rounded(values[0, i])
            row[f"{figure}_interval"] = _interval(resampled[figure][:, i]) if row[figure] is not None else None
        table[name] = row
    return table


def worst_drop(reference: dict, candidate: dict, names: list[str], draws: np.ndarray) -> dict | None:
    """The keypoint whose PCK@GATE_ALPHA the val split shows falling most from the float model's
    (`reference`) to the candidate's: the highest low end of the drop's 95% interval, both scored
    on the same draws of the val images. Not the highest point drop: with K keypoints and a few
    labelled objects each, one of them nearly always shows a large drop by chance (one of 8
    labelled hips placed otherwise is 0.125)."""
    key = f"pck@{GATE_ALPHA}"
    ones = np.ones((1, len(reference["kp_size"])))
    drops = (figures(reference, ones)[key] - figures(candidate, ones)[key])[0]
    if np.isnan(drops).all():
        return None
    weights = object_weights(reference, draws)
    resampled = figures(reference, weights)[key] - figures(candidate, weights)[key]
    intervals = [_interval(resampled[:, i]) if not np.isnan(drops[i]) else None for i in range(len(names))]
    worst = max(
        (i for i in range(len(names)) if intervals[i] is not None), key=lambda i: (intervals[i][0], drops[i], -i)
    )
    return {
        "keypoint": names[worst],
        "figure": key,
        "drop": _rounded(drops[worst]),
        "drop_interval": intervals[worst],
        "drops": {name: _rounded(drop) for name, drop in zip(names, drops)},
    }
