"""The OKS sigma of each keypoint, which every pose mAP (Ultralytics' and the device's) is built
on: given by the config, estimated from images the user labelled twice, or assumed.

OKS_i = exp(-d_i^2 / (2 s^2 (2 sigma_i)^2)), s^2 = 0.53 x box area (Ultralytics' kpt_iou). Where
nothing is given, Ultralytics takes 1 / K, which grows forgiving as K shrinks: with K = 4 a
keypoint 20% of s from its label still scores OKS 0.92. A labeller's spread does not depend on
how many keypoints the skeleton has, so posepipe assumes one K-independent value instead: the
mean of COCO's sigmas, the one measured spread of careful human labelling there is (0.067); and
COCO's own for COCO's 17 keypoints."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from posepipe.dataset.boxes import box_iou, xywh_to_xyxy
from posepipe.dataset.coco_json import Categories, read_coco
from posepipe.dataset.coco_records import AnnotationRecords, check_annotations, check_categories, check_images
from posepipe.dataset.demo import COCO_KEYPOINTS
from posepipe.infra.errors import PosepipeError

# Ultralytics' OKS_SIGMA to the bit (float32 / 10), so that a data.yaml holding them trains and
# scores exactly as Ultralytics' own default does for 17 keypoints.
COCO_SIGMAS = (
    np.array(
        [0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89],
        dtype=np.float32,
    )
    / 10.0
).tolist()
ASSUMED_SIGMA = round(float(np.mean(COCO_SIGMAS)), 4)
OKS_AREA_SHARE = 0.53  # s^2 = 0.53 x box area: Ultralytics' stand-in for COCO's segment area
# An estimate from n pairs has a relative standard error of about 1 / (2 sqrt(n)) (d^2 / s^2 of a
# pair has two degrees of freedom): 25 pairs give 10%, well inside the 15% an estimate is held to.
MIN_PAIRS = 25


@dataclass(frozen=True)
class Sigmas:
    """The sigmas a dataset's data.yaml holds, and where each came from."""

    values: list[float]
    source: str  # given, estimated (from double labels), assumed
    detail: str
    pairs: list[int] | None = None  # estimated: the pairs of labels behind each keypoint's sigma

    def record(self, keypoint_names: list[str]) -> dict:
        """What data.yaml's posepipe block, metrics.json and the report say of them."""
        per_keypoint = [{"name": name, "sigma": value} for name, value in zip(keypoint_names, self.values)]
        for entry, count in zip(per_keypoint, self.pairs or []):
            entry.update(pairs=count, source="estimated" if count >= MIN_PAIRS else "assumed")
        return {"source": self.source, "detail": self.detail, "per_keypoint": per_keypoint}


def assumed(keypoint_names: list[str], named: bool) -> Sigmas:
    """COCO's sigmas for COCO's 17 keypoints (or 17 unnamed ones), else ASSUMED_SIGMA for each."""
    if len(keypoint_names) == 17 and (not named or keypoint_names == list(COCO_KEYPOINTS)):
        return Sigmas(list(COCO_SIGMAS), "assumed", "COCO's sigmas, for COCO's 17 keypoints")
    return Sigmas(
        [ASSUMED_SIGMA] * len(keypoint_names),
        "assumed",
        f"{ASSUMED_SIGMA} for every keypoint: the mean of COCO's, a labeller's spread whatever K is (not 1/K); "
        "give datasets.<name>.kpt_oks_sigmas, or relabel some images (datasets.<name>.relabelled) to measure yours",
    )


def given(values: list[float], keypoint_names: list[str], key: str) -> Sigmas:
    """The config's sigmas, one per keypoint (`key` names the config key in the fault)."""
    if len(values) != len(keypoint_names):
        raise PosepipeError(
            f"{key}: {len(values)} values, but the dataset has {len(keypoint_names)} keypoints "
            f"({', '.join(keypoint_names)})"
        )
    return Sigmas([float(v) for v in values], "given", f"the config ({key})")


def estimated(first: np.ndarray, second: np.ndarray, areas: np.ndarray, fallback: Sigmas, where: str) -> Sigmas:
    """COCO's way (Ronchi and Perona, ICCV 2017): sigma_i^2 is the mean over the objects labelled
    twice of d_i^2 / s^2, d_i the distance between the two labels of keypoint i (both labelled),
    s^2 = OKS_AREA_SHARE x the box area. `first` and `second` are (objects, K, 3) pixel keypoints
    of the same objects; a keypoint with fewer than MIN_PAIRS pairs keeps `fallback`'s sigma."""
    both = (first[..., 2] > 0) & (second[..., 2] > 0)
    squared = ((first[..., :2] - second[..., :2]) ** 2).sum(axis=-1) / (OKS_AREA_SHARE * areas[:, None])
    pairs = both.sum(axis=0)
    mean = np.divide((squared * both).sum(axis=0), pairs, out=np.zeros(len(pairs)), where=pairs > 0)
    enough = (pairs >= MIN_PAIRS) & (mean > 0)
    values = [round(float(np.sqrt(m)), 6) if ok else kept for m, ok, kept in zip(mean, enough, fallback.values)]
    measured = int(enough.sum())
    detail = f"estimated from {where}: {measured} of {len(pairs)} keypoints from at least {MIN_PAIRS} pairs of labels"
    if measured < len(pairs):
        detail += f", the others {fallback.detail.split(':')[0]}"
    return Sigmas(values, "estimated", detail, pairs.astype(int).tolist())


def paired(first: dict, second: dict, k: int, min_iou: float = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The objects labelled in both labellings: each labelling is {file name: (classes (n,),
    boxes (n, 4) COCO xywh, keypoints (n, K, 3))}; within an image, objects of one class pair by
    box IoU (highest first, at least `min_iou`). Returns both keypoint arrays and the first's box areas."""
    firsts, seconds, areas = [], [], []
    for name in sorted(first.keys() & second.keys()):
        (cls_a, boxes_a, points_a), (cls_b, boxes_b, points_b) = first[name], second[name]
        iou = box_iou(xywh_to_xyxy(boxes_a), xywh_to_xyxy(boxes_b)) * (cls_a[:, None] == cls_b[None, :])
        taken_a, taken_b = set(), set()
        for flat in np.argsort(-iou, axis=None, kind="stable"):
            i, j = np.unravel_index(flat, iou.shape)
            if iou[i, j] < min_iou:
                break
            if i not in taken_a and j not in taken_b:
                taken_a.add(i), taken_b.add(j)
                firsts.append(points_a[i]), seconds.append(points_b[j]), areas.append(boxes_a[i, 2] * boxes_a[i, 3])
    return (
        np.array(firsts, dtype=np.float64).reshape(-1, k, 3),
        np.array(seconds, dtype=np.float64).reshape(-1, k, 3),
        np.array(areas, dtype=np.float64),
    )


@dataclass(frozen=True)
class SigmaSettings:
    """What the config says of a dataset's OKS sigmas: its own (`key` names where), or a second
    labelling of some of its images (a COCO file) to estimate them from."""

    given: list[float] | None = None
    key: str = "kpt_oks_sigmas"
    relabelled: Path | None = None


def dataset_sigmas(settings: SigmaSettings, categories: Categories, first_labelling: list[tuple]) -> Sigmas:
    """The config's sigmas; else those estimated from the relabelled images against the dataset's
    own labels (`first_labelling`: each split's annotation records and file names); else assumed."""
    names = categories.keypoint_names
    if settings.given is not None:
        return given(settings.given, names, settings.key)
    fallback = assumed(names, categories.named_keypoints)
    if settings.relabelled is None:
        return fallback
    path = settings.relabelled
    coco = read_coco(path)
    if check_categories(path, coco.categories, coco.annotations) != categories:
        raise PosepipeError(f"{path}: categories differ from the dataset's (ids, names or keypoint names)")
    images = check_images(path, coco.images)
    second = _labelling(check_annotations(path, coco.annotations, images, categories), images.file_names)
    first = {}
    for anns, file_names in first_labelling:
        first.update(_labelling(anns, file_names))
    return estimated(*paired(first, second, len(names)), fallback, f"{path} ({len(second)} images)")


def _labelling(anns: AnnotationRecords, file_names: list[str]) -> dict:
    """Each image's labelled objects (not crowds): file name -> (classes, COCO boxes, (n, K, 3)
    keypoints); a missing box is the extent of the labelled keypoints."""
    keypoints = anns.keypoints.reshape(len(anns.ids), -1, 3)
    boxes = anns.boxes.copy()
    for row in np.flatnonzero(~anns.has_box):
        points = keypoints[row][keypoints[row, :, 2] > 0, :2]
        if len(points):
            boxes[row] = [*points.min(axis=0), *(points.max(axis=0) - points.min(axis=0))]
    used = ~anns.crowd & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
    return {
        file_names[image]: (anns.classes[rows], boxes[rows], keypoints[rows])
        for image in np.unique(anns.image[used])
        for rows in [np.flatnonzero(used & (anns.image == image))]
    }
