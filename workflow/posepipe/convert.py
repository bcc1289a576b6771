"""COCO keypoints JSON + images -> a YOLO pose dataset folder, validated, exact and fast.

Labels equal Ultralytics' `convert_coco(use_keypoints=True, cls91to80=False)` numerically:
the same skip rules (crowds, boxes with w <= 0 or h <= 0, annotations with no labelled
keypoint, repeated rows), the same float operations, written with six decimals.
Class ids differ by design: categories sorted by their COCO id get classes 0, 1, 2, ...
(Ultralytics writes `category_id - 1`, which leaves gaps for non-contiguous ids).

Everything is read and checked before anything is written; the folder is built beside its
destination and moved into place at the end, so a failure leaves no output behind.
"""

import io
import logging
import multiprocessing
import os
import re
import shutil
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path

import msgspec
import numpy as np
import yaml

from posepipe import images as image_files
from posepipe.errors import PosepipeError
from posepipe.labels import format_rows

log = logging.getLogger("posepipe.convert")


class _Category(msgspec.Struct):
    id: int
    name: str
    keypoints: list[str] | None = None


class _Image(msgspec.Struct):
    id: int
    file_name: str
    width: int
    height: int


class _Annotation(msgspec.Struct):
    id: int
    image_id: int
    category_id: int
    bbox: list[float]
    keypoints: msgspec.Raw = msgspec.Raw(b"null")  # parsed in bulk, far faster than per record
    iscrowd: int | bool = 0


class _Coco(msgspec.Struct):
    images: list[_Image]
    annotations: list[_Annotation]
    categories: list[_Category]


_DECODER = msgspec.json.Decoder(_Coco)
_RECORD_PATH = re.compile(r"^\$\.(images|annotations|categories)\[(\d+)\]\.?(.*)$")
_SIDE = re.compile(r"(?i)(?<![a-z])(left|right)(?![a-z])")
_RECORD_KIND = {"images": "image", "annotations": "annotation", "categories": "category"}


@dataclass(frozen=True)
class Split:
    """One split as the user gives it: a COCO keypoints JSON and the folder its file_names are in."""

    annotations: Path
    images: Path


@dataclass(frozen=True)
class Categories:
    ids: list[int]  # sorted: class index i is category ids[i]
    names: list[str]
    keypoint_names: list[str]


@dataclass
class SplitLabels:
    """A checked, converted split: what gets written."""

    name: str
    source: Split
    file_names: list[str]
    images_checked: Future  # the check that every image exists with its declared size
    label_bytes: list[bytes]  # one label file per image, empty for backgrounds
    instances: int


def read_coco(path: Path) -> _Coco:
    """Parse a COCO JSON file with type checks; one-line errors name the file and the record."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise PosepipeError(f"{path}: cannot read the annotation file ({error.strerror})") from None
    try:
        return _DECODER.decode(data)
    except msgspec.ValidationError as error:
        raise PosepipeError(f"{path}: {_describe_validation_error(data, str(error))}") from None
    except msgspec.DecodeError as error:
        raise PosepipeError(f"{path}: invalid JSON ({error})") from None


def _describe_validation_error(data: bytes, message: str) -> str:
    """Turn msgspec's "... - at `$.annotations[3].bbox`" into a message naming the record's id."""
    fault, _, where = message.partition(" - at `")
    where = where.rstrip("`")
    if not where:
        missing = re.search(r"missing required field `(\w+)`", fault)
        if missing and missing.group(1) in _RECORD_KIND:
            return f"missing '{missing.group(1)}' list"
        return fault
    match = _RECORD_PATH.match(where)
    if not match:
        return f"{where}: {fault}"
    section, index, field = match.group(1), int(match.group(2)), match.group(3)
    record = f"{_RECORD_KIND[section]} #{index}"
    try:  # slow, but only on the error path: name the record by its id when it has one
        record_id = msgspec.json.decode(data)[section][index].get("id")
        if record_id is not None:
            record = f"{_RECORD_KIND[section]} id {record_id}"
    except (msgspec.DecodeError, AttributeError, KeyError, IndexError, TypeError):
        pass
    if field == "" and "missing required field" in fault:
        return f"{record}: {fault.lower()}"
    return f"{record}: {field or 'record'}: {fault.lower()}"


def check_categories(path: Path, categories: list[_Category]) -> Categories:
    if not categories:
        raise PosepipeError(f"{path}: 'categories' is empty")
    by_id: dict[int, _Category] = {}
    for category in categories:
        if category.id in by_id:
            raise PosepipeError(f"{path}: category id {category.id}: duplicate category id")
        if not category.keypoints:
            raise PosepipeError(f"{path}: category id {category.id} ('{category.name}'): no 'keypoints' names")
        by_id[category.id] = category
    ordered = [by_id[i] for i in sorted(by_id)]
    first = ordered[0]
    for category in ordered[1:]:
        if len(category.keypoints) != len(first.keypoints):
            raise PosepipeError(
                f"{path}: category id {category.id}: {len(category.keypoints)} keypoints, but category id "
                f"{first.id} has {len(first.keypoints)} (a YOLO pose model has one keypoint count)"
            )
    return Categories([c.id for c in ordered], [c.name for c in ordered], list(first.keypoints))


def check_file_name(path: Path, image: _Image) -> None:
    name = image.file_name  # plain string checks: this runs once per image at COCO scale
    if not name or name.startswith("/") or "\\" in name or ".." in name.split("/"):
        raise PosepipeError(f"{path}: image id {image.id}: file_name '{name}' escapes the image folder")


def _parse_keypoints(path: Path, anns: list[_Annotation], k: int) -> tuple[np.ndarray, np.ndarray]:
    """All keypoint lists as one (n, 3K) float64 array and a mask of annotations that have one."""
    raws = list(map(bytes, map(attrgetter("keypoints"), anns)))
    present = np.array([raw != b"null" and raw != b"[]" for raw in raws], dtype=bool)
    values = np.zeros((len(raws), 3 * k))
    listed = [raw for raw, has in zip(raws, present) if has]
    try:  # numpy's C parser reads all lists at once; a Python object per number would take seconds
        text = b"".join(listed).translate(None, b" \t\r\n")
        if text.count(b"[") != len(listed) or text.count(b"][") != len(listed) - 1:
            raise ValueError("not a list of flat lists")
        parsed = np.loadtxt(io.BytesIO(text[1:-1].replace(b"][", b"\n")), delimiter=",", ndmin=2)
        if parsed.shape != (len(listed), 3 * k) or not np.isfinite(parsed).all():
            raise ValueError("wrong shape")
    except ValueError:  # a faulty record: find and name it
        parsed = _parse_keypoints_one_by_one(path, [a for a, has in zip(anns, present) if has], listed, k)
    values[present] = parsed
    return values, present


def _parse_keypoints_one_by_one(path: Path, anns: list[_Annotation], raws: list[bytes], k: int) -> np.ndarray:
    rows = []
    for ann, raw in zip(anns, raws):
        try:
            points = msgspec.json.decode(raw, type=list[float])
        except msgspec.ValidationError as error:
            raise PosepipeError(f"{path}: annotation id {ann.id}: keypoints: {str(error).lower()}") from None
        if len(points) != 3 * k:
            raise PosepipeError(
                f"{path}: annotation id {ann.id}: keypoints has {len(points)} values, expected 3*K = {3 * k}"
            )
        if not np.isfinite(points).all():
            raise PosepipeError(f"{path}: annotation id {ann.id}: keypoints hold a non-finite value")
        rows.append(points)
    return np.array(rows, dtype=np.float64).reshape(len(rows), 3 * k)


def _column(records: list, field: str) -> np.ndarray:
    """One integer field of every record, as an array (attrgetter keeps the loop in C)."""
    return np.fromiter(map(attrgetter(field), records), dtype=np.int64, count=len(records))


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def convert_split(
    name: str, split: Split, categories: Categories | None, workers: Executor, checker: Executor
) -> tuple[SplitLabels, Categories]:
    """Read, check and convert one split; nothing is written.

    The image files are checked on `checker` while the labels are computed on `workers`; the
    returned labels hold that check's future."""
    coco = read_coco(split.annotations)
    path = split.annotations
    found = check_categories(path, coco.categories)
    if categories is not None and found != categories:
        raise PosepipeError(f"{path}: categories differ from the other split's (ids, names or keypoint names)")
    k = len(found.keypoint_names)

    images = coco.images
    image_ids = _column(images, "id")
    order = np.argsort(image_ids, kind="stable")
    sorted_ids = image_ids[order]
    repeated = np.flatnonzero(sorted_ids[1:] == sorted_ids[:-1])
    if repeated.size:
        raise PosepipeError(f"{path}: image id {sorted_ids[repeated[0]]}: duplicate image id")
    widths = _column(images, "width")
    heights = _column(images, "height")
    if len(images) and (widths.min() <= 0 or heights.min() <= 0):
        bad = images[_first((widths <= 0) | (heights <= 0))]
        raise PosepipeError(f"{path}: image id {bad.id}: width and height must be positive")
    seen_names: set[str] = set()
    for image in images:
        check_file_name(path, image)
        if image.file_name in seen_names:
            raise PosepipeError(f"{path}: image id {image.id}: file_name '{image.file_name}' used twice")
        seen_names.add(image.file_name)
    file_names = list(map(attrgetter("file_name"), images))
    sizes = list(zip(widths.tolist(), heights.tolist()))
    images_checked = checker.submit(image_files.check_sizes, path, split.images, file_names, sizes)

    anns = coco.annotations
    n = len(anns)
    ann_image_ids = _column(anns, "image_id")
    slot = np.minimum(np.searchsorted(sorted_ids, ann_image_ids), max(len(images) - 1, 0))
    if n and (len(images) == 0 or (sorted_ids[slot] != ann_image_ids).any()):
        bad = anns[_first(sorted_ids[slot] != ann_image_ids) if len(images) else 0]
        raise PosepipeError(f"{path}: annotation id {bad.id}: unknown image_id {bad.image_id}")
    ann_image = order[slot]  # index into `images`
    category_ids = np.array(found.ids, dtype=np.int64)
    ann_category_ids = _column(anns, "category_id")
    classes = np.searchsorted(category_ids, ann_category_ids)
    unknown = (classes >= len(category_ids)) | (
        category_ids[np.minimum(classes, len(category_ids) - 1)] != ann_category_ids
    )
    if unknown.any():
        bad = anns[_first(unknown)]
        raise PosepipeError(f"{path}: annotation id {bad.id}: unknown category_id {bad.category_id}")
    bbox_lists = list(map(attrgetter("bbox"), anns))
    bbox_lengths = np.fromiter(map(len, bbox_lists), dtype=np.int64, count=n)
    if (bbox_lengths != 4).any():
        bad = anns[_first(bbox_lengths != 4)]
        raise PosepipeError(f"{path}: annotation id {bad.id}: bbox has {len(bad.bbox)} values, expected 4")
    boxes = np.array(bbox_lists, dtype=np.float64).reshape(n, 4)
    keypoints, has_keypoints = _parse_keypoints(path, anns, k)
    if not np.isfinite(boxes).all():
        bad = anns[_first(~np.isfinite(boxes).all(axis=1))]
        raise PosepipeError(f"{path}: annotation id {bad.id}: bbox holds a non-finite value")
    crowd = _column(anns, "iscrowd").astype(bool)

    # The same float operations as convert_coco, so that the numbers agree to the last bit.
    w, h = widths[ann_image].astype(np.float64), heights[ann_image].astype(np.float64)
    centre_x = (boxes[:, 0] + boxes[:, 2] / 2) / w
    centre_y = (boxes[:, 1] + boxes[:, 3] / 2) / h
    box_w, box_h = boxes[:, 2] / w, boxes[:, 3] / h
    points = keypoints.reshape(n, k, 3) / np.stack([w, h, np.ones(n)], axis=1)[:, None, :]
    labelled = has_keypoints & (keypoints[:, 2::3] != 0).any(axis=1)
    keep = ~crowd & (box_w > 0) & (box_h > 0) & labelled
    rows = np.column_stack([classes, centre_x, centre_y, box_w, box_h, points.reshape(n, 3 * k)])[keep]
    row_image = ann_image[keep]
    rows, row_image = _drop_repeated_rows(rows, row_image)

    by_image = np.argsort(row_image, kind="stable")  # annotation order within each image
    rows, row_image = rows[by_image], row_image[by_image]
    text, row_lengths = format_rows(rows, workers)
    ends = np.cumsum(row_lengths)
    first_row = np.searchsorted(row_image, np.arange(len(images)), side="left")
    last_row = np.searchsorted(row_image, np.arange(len(images)), side="right")
    starts = np.concatenate([[0], ends])
    label_bytes = [text[starts[a] : starts[b]] for a, b in zip(first_row.tolist(), last_row.tolist())]
    return SplitLabels(name, split, file_names, images_checked, label_bytes, len(rows)), found


def _drop_repeated_rows(rows: np.ndarray, row_image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


def derive_flip_idx(keypoint_names: list[str]) -> tuple[list[int], str]:
    """Pair `left_*` with `right_*` (and `*_left` with `*_right`); unpaired points map to themselves."""

    def mirror(name: str) -> str:
        return _SIDE.sub(lambda side: "right" if side.group(0).lower() == "left" else "left", name)

    index = {name.lower(): i for i, name in enumerate(keypoint_names)}
    flip = [index.get(mirror(name).lower(), i) for i, name in enumerate(keypoint_names)]
    if any(flip[flip[i]] != i for i in range(len(flip))):  # e.g. two names mirror to one
        return list(range(len(keypoint_names))), "identity (keypoint names pair inconsistently)"
    pairs = sum(1 for i, j in enumerate(flip) if i < j)
    if pairs == 0:
        return flip, "identity (no left_/right_ pairs among the keypoint names)"
    return flip, f"derived from keypoint names ({pairs} left/right pairs)"


def check_flip_idx(source: str, flip_idx: list[int], k: int) -> None:
    if len(flip_idx) != k or sorted(flip_idx) != list(range(k)):
        raise PosepipeError(f"{source}: flip_idx {flip_idx} is not a permutation of 0..{k - 1}")
    for i, j in enumerate(flip_idx):
        if flip_idx[j] != i:
            raise PosepipeError(
                f"{source}: flip_idx {flip_idx} is not its own inverse: {i} -> {j} but {j} -> {flip_idx[j]}"
            )


def convert(
    splits: dict[str, Split],
    out_dir: Path,
    flip_idx: list[int] | None = None,
    flip_source: str = "config",
    threads: int = 1,
) -> dict:
    """Check and convert every split, then write `out_dir` atomically. Returns the data YAML as a dict."""
    if "train" not in splits:
        raise PosepipeError(f"{out_dir}: no 'train' split given")
    converted: list[SplitLabels] = []
    categories = None
    # Image files are checked in a second process: that work is Python-bound and would hold the GIL.
    checker = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"))
    checker.submit(int).result()  # fork now, while this process is small: later copy-on-write costs
    with ThreadPoolExecutor(max(1, threads)) as workers, checker:
        for name, split in splits.items():
            labels, categories = convert_split(name, split, categories, workers, checker)
            converted.append(labels)
        for labels in converted:  # every image must exist with its declared size before we write
            labels.images_checked.result()
    train = converted[0] if converted[0].name == "train" else next(c for c in converted if c.name == "train")
    if train.instances == 0:
        raise PosepipeError(
            f"{train.source.annotations}: the training split has no usable annotation "
            "(none left after skipping crowds, empty boxes and annotations without labelled keypoints)"
        )
    k = len(categories.keypoint_names)
    if flip_idx is None:
        flip_idx, how = derive_flip_idx(categories.keypoint_names)
        log.info("flip_idx %s: %s", flip_idx, how)
    else:
        check_flip_idx(flip_source, flip_idx, k)
    if len(categories.names) % 3 == 0:
        log.warning(
            "%s: %d classes, a multiple of 3: the MaixCAM runtime tells the score and keypoint outputs "
            "apart by shape and will confuse them",
            splits["train"].annotations,
            len(categories.names),
        )
    # no `path`: Ultralytics then takes this file's folder, so the file is the same in any folder
    data_yaml = {
        **{labels.name: f"images/{labels.name}" for labels in converted},
        "kpt_shape": [k, 3],
        "flip_idx": flip_idx,
        "names": dict(enumerate(categories.names)),
        "kpt_names": {i: categories.keypoint_names for i in range(len(categories.names))},
        "category_ids": dict(enumerate(categories.ids)),
    }
    out_dir = Path(out_dir)
    staging = out_dir.with_name(f".{out_dir.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        for labels in converted:
            _write_split(staging, labels)
        with open(staging / "data.yaml", "w") as f:
            f.write("# YOLO pose dataset written by posepipe's convert rule\n")
            yaml.safe_dump(data_yaml, f, sort_keys=False, allow_unicode=True)
        shutil.rmtree(out_dir, ignore_errors=True)  # also drops any stale Ultralytics labels.cache
        os.replace(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for labels in converted:
        backgrounds = sum(1 for b in labels.label_bytes if not b)
        log.info(
            "%s: %d images (%d backgrounds), %d instances",
            labels.name,
            len(labels.file_names),
            backgrounds,
            labels.instances,
        )
    return data_yaml


def _write_split(root: Path, labels: SplitLabels) -> None:
    image_dir, label_dir = root / "images" / labels.name, root / "labels" / labels.name
    # plain strings, not Path objects: this runs once per image at COCO scale
    for sub in sorted({f.rpartition("/")[0] for f in labels.file_names}):
        (image_dir / sub).mkdir(parents=True, exist_ok=True)
        (label_dir / sub).mkdir(parents=True, exist_ok=True)
    image_files.link_all(labels.source.images, image_dir, labels.file_names)
    prefix = str(label_dir)
    for file_name, content in zip(labels.file_names, labels.label_bytes):
        name = f"{prefix}/{os.path.splitext(file_name)[0]}.txt"
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            if os.write(fd, content) != len(content):
                raise OSError(f"{name}: short write")
        finally:
            os.close(fd)
