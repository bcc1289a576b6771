"""How far the gate can trust a drop: a paired bootstrap over the val images of a candidate's
pose mAP50-95 drop from the float model's.

Scoring keeps, per val image, what Ultralytics' AP needs (each detection's pose true-positive
flags at the ten OKS thresholds, its confidence and class; the image's labelled classes). A
resample draws val images with replacement; the float model and the candidate are scored on the
same draw, so what the interval measures is the drop, not the spread of the images."""

import math
from pathlib import Path

import numpy as np

RESAMPLES = 1000
BOOTSTRAP_SEED = 0
LEVEL = 0.95


# per labelled object, beside target_cls: evaluation.keypoints' figures
KEYPOINT_STATS = {
    "kp_size": (np.float64, ()),
    "kp_labelled": (bool, None),
    "kp_error": (np.float64, None),
    "kp_shown": (bool, None),
}


def joined_image_stats(per_image: dict[str, dict]) -> dict[str, np.ndarray]:
    """Per-image scoring stats (image name -> tp_p, conf, pred_cls, target_cls, and the keypoint
    stats of each labelled object) joined over the images in name order, with the offsets where
    each image's detections and objects start: what save_image_stats writes and the resampling reads."""
    stats = [per_image[name] for name in sorted(per_image)]
    k = next((np.shape(s["kp_labelled"])[-1] for s in stats if "kp_labelled" in s), 0)

    def joined(key: str, dtype, row_shape=()) -> np.ndarray:
        rows = [np.asarray(s[key], dtype=dtype).reshape(-1, *row_shape) for s in stats]
        return np.concatenate(rows) if rows else np.zeros((0, *row_shape), dtype)

    return {
        "images": np.array(sorted(per_image), dtype=str),
        "tp_p": joined("tp_p", bool, (10,)),
        "conf": joined("conf", np.float32),
        "pred_cls": joined("pred_cls", np.int32),
        "target_cls": joined("target_cls", np.int32),
        "detections": np.cumsum([0] + [len(s["conf"]) for s in stats]),
        "targets": np.cumsum([0] + [len(s["target_cls"]) for s in stats]),
        **{
            key: joined(key, dtype, (k,) if shape is None else shape)
            for key, (dtype, shape) in KEYPOINT_STATS.items()
            if all(key in s for s in stats)
        },
    }


def save_image_stats(path: Path, per_image: dict[str, dict]) -> None:
    """joined_image_stats as one .npz."""
    with open(path, "wb") as f:  # np.savez would add ".npz" to a name without it
        np.savez(f, **joined_image_stats(per_image))


def load_image_stats(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as stats:
        return {key: stats[key] for key in stats.files}


def pose_map(stats: dict, draw: np.ndarray) -> float:
    """Pose mAP50-95 (Ultralytics' ap_per_class) of the val images `draw` (indices, repeats allowed)."""
    from ultralytics.utils.metrics import ap_per_class

    detections, targets = stats["detections"], stats["targets"]
    pick = np.concatenate([np.arange(detections[i], detections[i + 1]) for i in draw] or [np.zeros(0, int)])
    labelled = np.concatenate([np.arange(targets[i], targets[i + 1]) for i in draw] or [np.zeros(0, int)])
    if not len(labelled):
        return 0.0
    tp_p, conf, pred_cls = stats["tp_p"][pick], stats["conf"][pick], stats["pred_cls"][pick]
    return float(ap_per_class(tp_p, conf, pred_cls, stats["target_cls"][labelled])[5].mean())


def resample_draws(image_count: int, resamples: int = RESAMPLES, seed: int = BOOTSTRAP_SEED) -> np.ndarray:
    """(resamples, image_count) image indices, the same for every candidate of a model."""
    return np.random.default_rng(seed).integers(0, image_count, size=(resamples, image_count))


def pose_maps(stats: dict, draws: np.ndarray) -> np.ndarray:
    """Pose mAP50-95 on each draw."""
    return np.array([pose_map(stats, draw) for draw in draws])


def central_interval(resampled: np.ndarray, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """The central `level` interval of figures computed on every draw (draws along axis 0)."""
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(resampled, [tail, 100 - tail], axis=0)
    return low, high


def drop_interval(reference_maps: np.ndarray, candidate_maps: np.ndarray, level: float = LEVEL) -> list[float]:
    """The central `level` interval of the drop (reference - candidate), draw by draw."""
    low, high = central_interval(reference_maps - candidate_maps, level)
    return [round(float(low), 6), round(float(high), 6)]


def images_to_resolve(image_count: int, interval: list[float], max_accuracy_drop: float) -> int:
    """Roughly how many val images would narrow `interval` to `max_accuracy_drop` (its width
    shrinks as one over the square root of the image count)."""
    width = interval[1] - interval[0]
    return math.ceil(image_count * (width / max_accuracy_drop) ** 2) if max_accuracy_drop > 0 else image_count
