"""COCO keypoints JSON + images -> a YOLO pose dataset folder that Ultralytics loads whole.

The invariant: every image and instance the conversion reports is one that Ultralytics' own
loader (`YOLODataset`) loads and trains on. What it takes:
- labels where Ultralytics looks for them: it finds an image's label by replacing the LAST
  `/images/` of the image's path, and its glob skips names that start with a dot, so a path
  component `images` (or `images_`, ...) gets one `_` more and a hidden one (`.x`, `_.x`, ...)
  one `_` in front: a one-to-one renaming, logged;
- nothing its label check rejects (it drops the whole image for one coordinate above 1.01 or
  below 0): labelled keypoints outside the image (or with a negative visibility) become
  unlabelled `0 0 0`, boxes are clipped to the image, and a box wholly outside it is skipped,
  with one warning per split. These rows differ from Ultralytics' `convert_coco`, which writes
  them as they are and so loses the image at training time;
- images it can read as they are: regular files (symlinks resolved), a known suffix, at least
  10 px a side, complete JPEG and PNG files; no two images sharing one label file.

Otherwise the labels equal `convert_coco(use_keypoints=True, cls91to80=False)` numerically: the
same skip rules (crowds, boxes with w <= 0 or h <= 0, annotations with no labelled keypoint,
repeated rows), the same float operations, written with six decimals. Class ids differ by
design: categories sorted by their COCO id get classes 0, 1, 2, ... (Ultralytics writes
`category_id - 1`, which leaves gaps for non-contiguous ids).

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
from typing import Annotated

import msgspec
import numpy as np
import yaml

from posepipe import flip_idx as flips
from posepipe import images as image_files
from posepipe.decoder import score_padding
from posepipe.errors import PosepipeError
from posepipe.labels import format_rows

log = logging.getLogger("posepipe.convert")

Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
Side = Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]
# A finite value this large is no pixel coordinate but a broken record (and would overflow
# the label writer): refused, where a point merely outside the image is made unlabelled.
MAX_COORDINATE = 1e6


class _Category(msgspec.Struct):
    id: Int64
    name: str
    keypoints: list[str] | None = None
    skeleton: list[list[int]] | None = None  # keypoint pairs to join in a drawing, 1-based in COCO


class _Image(msgspec.Struct):
    id: Int64
    file_name: str
    width: Side
    height: Side


class _Annotation(msgspec.Struct):
    id: Int64
    image_id: Int64
    category_id: Int64
    bbox: msgspec.Raw  # the number lists are parsed in bulk, far faster than per record
    keypoints: msgspec.Raw = msgspec.Raw(b"null")
    iscrowd: int | bool = 0


class _Coco(msgspec.Struct):
    images: list[_Image]
    annotations: list[_Annotation]
    categories: list[_Category]


_DECODER = msgspec.json.Decoder(_Coco)
_RECORD_PATH = re.compile(r"^\$\.(images|annotations|categories)\[(\d+)\]\.?(.*)$")
_RECORD_KIND = {"images": "image", "annotations": "annotation", "categories": "category"}
# path components Ultralytics would misread: `images` (its label mapping), hidden (its glob)
_RENAMED_COMPONENT = re.compile(r"images_*|_*\..*")


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
    named_keypoints: bool  # False: the JSON names none, kp0..kp{K-1} stand in
    skeleton: list[list[int]]  # 0-based keypoint pairs, [] when the dataset has none


@dataclass
class SplitLabels:
    """A checked, converted split: what gets written."""

    name: str
    source: Split
    file_names: list[str]  # as in the JSON, normalised (no `./`, no `//`)
    dataset_names: list[str]  # where each image goes in the dataset (see _dataset_name)
    images_placed: Future  # the image files checked, then linked into the staging folder
    label_bytes: list[bytes]  # one label file per image, empty for backgrounds
    instances: int

    def counts(self) -> dict:
        backgrounds = sum(1 for b in self.label_bytes if not b)
        return {"images": len(self.file_names), "backgrounds": backgrounds, "instances": self.instances}


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
    except RecursionError:
        raise PosepipeError(f"{path}: JSON nested too deeply to be a COCO file") from None


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
    except (msgspec.DecodeError, AttributeError, KeyError, IndexError, TypeError, RecursionError):
        pass
    if field == "" and "missing required field" in fault:
        return f"{record}: {fault.lower()}"
    return f"{record}: {field or 'record'}: {fault.lower()}"


def check_categories(path: Path, categories: list[_Category], anns: list[_Annotation]) -> Categories:
    """Categories sorted by id, one keypoint count; K from the annotations where no category
    names its keypoints (common in face-landmark sets), with names kp0..kp{K-1}."""
    if not categories:
        raise PosepipeError(f"{path}: 'categories' is empty")
    by_id: dict[int, _Category] = {}
    for category in categories:
        if category.id in by_id:
            raise PosepipeError(f"{path}: category id {category.id}: duplicate category id")
        by_id[category.id] = category
    ordered = [by_id[i] for i in sorted(by_id)]
    named = [c for c in ordered if c.keypoints]
    if not named:
        k = _keypoint_count_from_annotations(path, anns)
        names = [f"kp{i}" for i in range(k)]
        skeleton = _skeleton(path, ordered[0], k)
        return Categories([c.id for c in ordered], [c.name for c in ordered], names, False, skeleton)
    first = named[0]
    for category in ordered:
        if len(category.keypoints or ()) != len(first.keypoints):
            raise PosepipeError(
                f"{path}: category id {category.id}: {len(category.keypoints or ())} keypoint names, but category "
                f"id {first.id} has {len(first.keypoints)} (a YOLO pose model has one keypoint count)"
            )
    skeleton = _skeleton(path, first, len(first.keypoints))
    return Categories([c.id for c in ordered], [c.name for c in ordered], list(first.keypoints), True, skeleton)


def _skeleton(path: Path, category: _Category, k: int) -> list[list[int]]:
    """The category's skeleton as 0-based pairs. COCO's is 1-based; a list that holds a 0 and
    stays below K is taken as 0-based already (some tools write that)."""
    pairs = category.skeleton or []
    flat = [i for pair in pairs for i in pair]
    if any(len(pair) != 2 for pair in pairs):
        raise PosepipeError(f"{path}: category id {category.id}: skeleton: every entry must be a pair of keypoints")
    if not flat:
        return []
    offset = 0 if min(flat) == 0 and max(flat) < k else 1
    outside = [i for i in flat if not offset <= i < k + offset]
    if outside:
        raise PosepipeError(
            f"{path}: category id {category.id}: skeleton joins keypoint {outside[0]}, "
            f"but the category has {k} keypoints (numbered from 1, as in COCO)"
        )
    return [[a - offset, b - offset] for a, b in pairs]


def _keypoint_count_from_annotations(path: Path, anns: list[_Annotation]) -> int:
    """K of a dataset whose categories name no keypoint: the first keypoint list's length / 3
    (every other list is checked against it when the lists are parsed)."""
    for ann in anns:
        raw = bytes(ann.keypoints)
        if raw not in (b"null", b"[]"):
            values = _decode_number_list(path, ann, "keypoints", raw)
            if len(values) % 3:
                raise PosepipeError(
                    f"{path}: annotation id {ann.id}: keypoints has {len(values)} values, not a multiple of 3"
                )
            return len(values) // 3
    raise PosepipeError(f"{path}: no category names its keypoints and no annotation has any")


def _decode_number_list(path: Path, ann: _Annotation, field: str, raw: bytes) -> list[float]:
    try:
        return msgspec.json.decode(raw, type=list[float])
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        fault, _, where = str(error).partition(" - at `$[")
        position = f" (value {where.rstrip('`]')})" if where else ""
        raise PosepipeError(
            f"{path}: annotation id {ann.id}: {field}: {fault.lower()}{position}, expected a flat list of numbers"
        ) from None


def normalised_file_name(path: Path, image: _Image) -> str:
    """The image's path below the image folder, without `./` or repeated slashes; one that
    leaves the folder, or that Ultralytics' loader would not take for an image, is refused."""
    name = image.file_name  # plain string checks first: this runs once per image at COCO scale
    if not name or name.startswith("/") or "\\" in name or "\0" in name:
        raise PosepipeError(f"{path}: image id {image.id}: file_name '{name}' escapes the image folder")
    if "//" in name or name.endswith("/") or "./" in name or name.startswith("."):
        parts = [part for part in name.split("/") if part not in ("", ".")]
        if ".." in parts:
            raise PosepipeError(f"{path}: image id {image.id}: file_name '{name}' escapes the image folder")
        name = "/".join(parts)
    stem, dot, suffix = name.rpartition("/")[2].rpartition(".")
    if not dot or not stem or suffix.lower() not in image_files.IMG_FORMATS:
        raise PosepipeError(
            f"{path}: image id {image.id}: file_name '{image.file_name}': Ultralytics loads only "
            f"{', '.join(sorted(image_files.IMG_FORMATS))} files"
        )
    return name


def dataset_name(file_name: str) -> str:
    """Where an image goes below `images/<split>/`: components Ultralytics would misread renamed
    one-to-one (`images` -> `images_`, `images_` -> `images__`, `.x` -> `_.x`, `_.x` -> `__.x`)."""
    if "images" not in file_name and "/." not in f"/{file_name}" and "_." not in file_name:
        return file_name  # the common case, decided without splitting
    parts = file_name.split("/")
    for i, part in enumerate(parts):
        if _RENAMED_COMPONENT.fullmatch(part):
            parts[i] = f"_{part}" if part.lstrip("_").startswith(".") else f"{part}_"
    return "/".join(parts)


def label_name(dataset_file_name: str) -> str:
    """The label file of an image, relative to `labels/<split>/`, as Ultralytics derives it."""
    return dataset_file_name.rsplit(".", 1)[0] + ".txt"


@dataclass
class ImageRecords:
    """A split's checked image records."""

    ids: np.ndarray  # as listed
    order: np.ndarray  # argsort of ids
    widths: np.ndarray
    heights: np.ndarray
    file_names: list[str]
    dataset_names: list[str]


def check_images(path: Path, images: list[_Image]) -> ImageRecords:
    """Unique ids, sizes Ultralytics takes, one file per name and one label file per image."""
    image_ids = _column(images, "id")
    order = np.argsort(image_ids, kind="stable")
    sorted_ids = image_ids[order]
    repeated = np.flatnonzero(sorted_ids[1:] == sorted_ids[:-1])
    if repeated.size:
        raise PosepipeError(f"{path}: image id {sorted_ids[repeated[0]]}: duplicate image id")
    widths, heights = _column(images, "width"), _column(images, "height")
    if len(images) and min(widths.min(), heights.min()) < image_files.MIN_SIDE:
        bad = images[_first((widths < image_files.MIN_SIDE) | (heights < image_files.MIN_SIDE))]
        raise PosepipeError(
            f"{path}: image id {bad.id}: {bad.width}x{bad.height} px; Ultralytics drops images under "
            f"{image_files.MIN_SIDE} px a side"
        )
    file_names = [normalised_file_name(path, image) for image in images]
    dataset_names = list(map(dataset_name, file_names))
    first_of: dict[str, int] = {}
    for index, name in enumerate(file_names):
        if (other := first_of.setdefault(name, index)) != index:
            raise PosepipeError(
                f"{path}: image id {images[index].id}: file_name '{images[index].file_name}' is the file of "
                f"image id {images[other].id} ('{images[other].file_name}')"
            )
    first_of.clear()
    for index, name in enumerate(map(label_name, dataset_names)):
        if (other := first_of.setdefault(name, index)) != index:
            raise PosepipeError(
                f"{path}: image id {images[index].id}: '{file_names[index]}' and image id {images[other].id} "
                f"'{file_names[other]}' would share the label file '{name}' (one stem per folder)"
            )
    return ImageRecords(image_ids, order, widths, heights, file_names, dataset_names)


@dataclass
class AnnotationRecords:
    """A split's checked annotations as arrays, one row per annotation."""

    ids: np.ndarray
    image: np.ndarray  # index into the split's images
    classes: np.ndarray
    boxes: np.ndarray  # COCO x, y, w, h in pixels
    keypoints: np.ndarray  # (n, 3K): x, y, v
    has_keypoints: np.ndarray
    crowd: np.ndarray


def check_annotations(
    path: Path, anns: list[_Annotation], images: ImageRecords, categories: Categories
) -> AnnotationRecords:
    """Known image and category, four finite box values, 3K finite keypoint values, none of
    them beyond MAX_COORDINATE."""
    n = len(anns)
    sorted_ids = images.ids[images.order]
    ann_image_ids = _column(anns, "image_id")
    slot = np.minimum(np.searchsorted(sorted_ids, ann_image_ids), max(len(sorted_ids) - 1, 0))
    if n and (len(sorted_ids) == 0 or (sorted_ids[slot] != ann_image_ids).any()):
        bad = anns[_first(sorted_ids[slot] != ann_image_ids) if len(sorted_ids) else 0]
        raise PosepipeError(f"{path}: annotation id {bad.id}: unknown image_id {bad.image_id}")
    category_ids = np.array(categories.ids, dtype=np.int64)
    ann_category_ids = _column(anns, "category_id")
    classes = np.searchsorted(category_ids, ann_category_ids)
    unknown = (classes >= len(category_ids)) | (
        category_ids[np.minimum(classes, len(category_ids) - 1)] != ann_category_ids
    )
    if unknown.any():
        bad = anns[_first(unknown)]
        raise PosepipeError(f"{path}: annotation id {bad.id}: unknown category_id {bad.category_id}")
    boxes, has_box = _number_lists(path, anns, "bbox", 4, "4")
    if not has_box.all():
        raise PosepipeError(f"{path}: annotation id {anns[_first(~has_box)].id}: bbox has no values, expected 4")
    k = len(categories.keypoint_names)
    keypoints, has_keypoints = _number_lists(path, anns, "keypoints", 3 * k, f"3*K = {3 * k}")
    for name, values in (("bbox", boxes), ("keypoints", keypoints)):
        if not np.isfinite(values).all():
            bad = anns[_first(~np.isfinite(values).all(axis=1))]
            raise PosepipeError(f"{path}: annotation id {bad.id}: {name} holds a non-finite value")
        huge = np.abs(values) > MAX_COORDINATE
        if huge.any():
            row = _first(huge.any(axis=1))
            value = values[row][huge[row]][0]
            raise PosepipeError(
                f"{path}: annotation id {anns[row].id}: {name} holds {value:g}, not a pixel coordinate "
                f"(beyond ±{MAX_COORDINATE:g})"
            )
    crowd = _column(anns, "iscrowd").astype(bool)
    return AnnotationRecords(_column(anns, "id"), images.order[slot], classes, boxes, keypoints, has_keypoints, crowd)


def _number_lists(path: Path, anns: list[_Annotation], field: str, length: int, expected: str):
    """One list of `length` numbers per annotation (`null` or `[]` for none) as an (n, length)
    float64 array, and a mask of the annotations that have one."""
    raws = list(map(bytes, map(attrgetter(field), anns)))
    present = np.array([raw != b"null" and raw != b"[]" for raw in raws], dtype=bool)
    values = np.zeros((len(raws), length))
    listed = [raw for raw, has in zip(raws, present) if has]
    try:  # numpy's C parser reads all lists at once; a Python object per number would take seconds
        text = b"".join(listed).translate(None, b" \t\r\n")
        if text.count(b"[") != len(listed) or text.count(b"][") != len(listed) - 1:
            raise ValueError("not a list of flat lists")
        parsed = np.loadtxt(io.BytesIO(text[1:-1].replace(b"][", b"\n")), delimiter=",", ndmin=2)
        if parsed.shape != (len(listed), length):
            raise ValueError("wrong shape")
    except ValueError:  # a faulty record: find and name it
        owners = [a for a, has in zip(anns, present) if has]
        parsed = _number_lists_one_by_one(path, owners, listed, field, length, expected)
    values[present] = parsed
    return values, present


def _number_lists_one_by_one(path, anns: list[_Annotation], raws: list[bytes], field, length, expected) -> np.ndarray:
    rows = []
    for ann, raw in zip(anns, raws):
        numbers = _decode_number_list(path, ann, field, raw)
        if len(numbers) != length:
            raise PosepipeError(
                f"{path}: annotation id {ann.id}: {field} has {len(numbers)} values, expected {expected}"
            )
        rows.append(numbers)
    return np.array(rows, dtype=np.float64).reshape(len(rows), length)


def _column(records: list, field: str) -> np.ndarray:
    """One integer field of every record, as an array (attrgetter keeps the loop in C)."""
    return np.fromiter(map(attrgetter(field), records), dtype=np.int64, count=len(records))


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


@dataclass
class Rows:
    """The label rows of a split, the image of each, and what was changed to keep them loadable."""

    rows: np.ndarray
    image: np.ndarray
    keypoints_outside: np.ndarray  # annotation ids with labelled keypoints made unlabelled
    boxes_clipped: np.ndarray  # annotation ids whose box was clipped to the image
    boxes_outside: np.ndarray  # annotation ids skipped: the box lies wholly outside the image


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
    boxes = anns.boxes
    x1, y1 = np.maximum(boxes[:, 0], 0), np.maximum(boxes[:, 1], 0)
    x2, y2 = boxes[:, 0] + boxes[:, 2], boxes[:, 1] + boxes[:, 3]
    clipped = (boxes[:, 2] > 0) & (boxes[:, 3] > 0) & ((x1 != boxes[:, 0]) | (y1 != boxes[:, 1]) | (x2 > w) | (y2 > h))
    if clipped.any():  # only clipped boxes get new values: x + w - x is not always w in floating point
        boxes = boxes.copy()
        boxes[clipped] = np.column_stack([x1, y1, np.minimum(x2, w) - x1, np.minimum(y2, h) - y1])[clipped]
    wholly_outside = clipped & ((boxes[:, 2] <= 0) | (boxes[:, 3] <= 0))
    labelled = anns.has_keypoints & ((v != 0) & ~outside).any(axis=1)
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
    )


def convert_split(
    name: str, split: Split, categories: Categories | None, staging: Path, workers: Executor, checker: Executor
) -> tuple[SplitLabels, Categories]:
    """Read, check and convert one split; nothing is written but image links into `staging`.

    The image files are checked, and then linked into `staging`, on `checker` while the labels
    are computed on `workers`; the returned labels hold that work's future."""
    coco = read_coco(split.annotations)
    path = split.annotations
    found = check_categories(path, coco.categories, coco.annotations)
    if categories is not None and found != categories:
        raise PosepipeError(f"{path}: categories differ from the other split's (ids, names or keypoint names)")
    images = check_images(path, coco.images)
    sizes = list(zip(images.widths.tolist(), images.heights.tolist()))
    images_placed = checker.submit(
        image_files.check_and_link,
        path,
        split.images,
        images.file_names,
        sizes,
        staging / "images" / name,
        images.dataset_names,
    )
    anns = check_annotations(path, coco.annotations, images, found)
    converted = label_rows(anns, images, len(found.keypoint_names))
    _warn_about_changes(name, converted)
    rows, row_image = _drop_repeated_rows(converted.rows, converted.image)

    by_image = np.argsort(row_image, kind="stable")  # annotation order within each image
    rows, row_image = rows[by_image], row_image[by_image]
    text, row_lengths = format_rows(rows, workers)
    ends = np.cumsum(row_lengths)
    first_row = np.searchsorted(row_image, np.arange(len(images.file_names)), side="left")
    last_row = np.searchsorted(row_image, np.arange(len(images.file_names)), side="right")
    starts = np.concatenate([[0], ends])
    label_bytes = [text[starts[a] : starts[b]] for a, b in zip(first_row.tolist(), last_row.tolist())]
    labels = SplitLabels(name, split, images.file_names, images.dataset_names, images_placed, label_bytes, len(rows))
    return labels, found


def _ids(ids: np.ndarray) -> str:
    return ", ".join(map(str, ids[:5].tolist())) + (", ..." if len(ids) > 5 else "")


def _warn_about_changes(split: str, rows: Rows) -> None:
    changes = [
        (
            rows.keypoints_outside,
            "with labelled keypoints outside the image or of negative visibility (made unlabelled)",
        ),
        (rows.boxes_clipped, "with boxes reaching past the image (clipped to it)"),
        (rows.boxes_outside, "with boxes wholly outside the image (skipped)"),
    ]
    said = [f"{len(ids)} annotations {what}: ids {_ids(ids)}" for ids, what in changes if len(ids)]
    if said:
        log.warning("%s: %s", split, "; ".join(said))


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


def convert(
    splits: dict[str, Split],
    out_dir: Path,
    flip_idx: list[int] | bool | None = None,
    flip_source: str = "config",
    threads: int = 1,
) -> dict:
    """Check and convert every split, then write `out_dir` atomically. Returns the data YAML as
    a dict, with what each split holds under `posepipe.splits` (images, backgrounds, instances)."""
    if "train" not in splits:
        raise PosepipeError(f"{out_dir}: no 'train' split given")
    out_dir = Path(out_dir)
    staging = out_dir.with_name(f".{out_dir.name}.partial")  # moved into place when complete
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with ThreadPoolExecutor(max(1, threads)) as workers:
            converted, categories = _check_and_convert(splits, staging, workers)
            train = next(c for c in converted if c.name == "train")
            if train.instances == 0:
                raise PosepipeError(
                    f"{train.source.annotations}: the training split has no usable annotation "
                    "(none left after skipping crowds, empty boxes and annotations without labelled keypoints)"
                )
            flip = _flip_idx(flip_idx, flip_source, categories, splits["train"].annotations)
            data_yaml = _data_yaml(converted, categories, flip)
            for labels in converted:
                _write_labels(staging / "labels" / labels.name, labels.dataset_names, labels.label_bytes)
        with open(staging / "data.yaml", "w") as f:
            f.write("# YOLO pose dataset written by posepipe's convert rule\n")
            yaml.safe_dump(data_yaml, f, sort_keys=False, allow_unicode=True)
        shutil.rmtree(out_dir, ignore_errors=True)  # also drops any stale Ultralytics labels.cache
        os.replace(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for labels in converted:
        counts = labels.counts()
        renamed = sum(1 for a, b in zip(labels.file_names, labels.dataset_names) if a != b)
        log.info(
            "%s: %d images (%d backgrounds), %d instances%s",
            labels.name,
            counts["images"],
            counts["backgrounds"],
            counts["instances"],
            f"; {renamed} images renamed for Ultralytics' loader (images/ or hidden path components)"
            if renamed
            else "",
        )
    return data_yaml


def _check_and_convert(splits: dict[str, Split], staging: Path, workers: Executor):
    """Every split converted, and every image file checked and linked into `staging`."""
    converted: list[SplitLabels] = []
    categories = None
    # Image files are checked and linked in a second process, beside the label work: that work
    # is Python-bound and would hold the GIL.
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as checker:
        checker.submit(int).result()  # fork now, while this process is small: later copy-on-write costs
        for name, split in splits.items():
            labels, categories = convert_split(name, split, categories, staging, workers, checker)
            converted.append(labels)
        for labels in converted:
            labels.images_placed.result()
    return converted, categories


def _flip_idx(configured: list[int] | bool | None, where: str, categories: Categories, train_json: Path):
    k = len(categories.keypoint_names)
    if configured is None:
        flip = flips.derive(categories.keypoint_names, str(train_json))
    elif configured is False:
        flip = flips.FlipIdx(None, "config", "the config asks for no flipping")
    else:
        flip = flips.check(where, configured, k)
    if flip.flip_idx is None:
        log.warning("flip_idx: %s (fliplr 0); give flip_idx in the config to flip", flip.detail)
    else:
        log.info("flip_idx %s: %s", flip.flip_idx, flip.detail)
    if not categories.named_keypoints:
        log.info("no category names its keypoints: K = %d from the annotations, named kp0..kp%d", k, k - 1)
    if score_padding(len(categories.names)):
        log.info(
            "%s: %d classes, a multiple of 3: the pruned model will carry one constant-zero score channel "
            "more, so that the MaixCAM runtime tells scores from keypoints",
            train_json,
            len(categories.names),
        )
    return flip


def _data_yaml(converted: list[SplitLabels], categories: Categories, flip: flips.FlipIdx) -> dict:
    # no `path`: Ultralytics then takes this file's folder, so the file is the same in any folder
    return {
        **{labels.name: f"images/{labels.name}" for labels in converted},
        "kpt_shape": [len(categories.keypoint_names), 3],
        **({"flip_idx": flip.flip_idx} if flip.flip_idx is not None else {}),
        "names": dict(enumerate(categories.names)),
        "kpt_names": {i: categories.keypoint_names for i in range(len(categories.names))},
        "skeleton": categories.skeleton,  # 0-based keypoint pairs, for drawing (the MaixPy app)
        "category_ids": dict(enumerate(categories.ids)),
        # Ultralytics ignores this key: what the conversion decided and what it promises
        "posepipe": {
            "flip_idx_source": flip.source,
            "splits": {labels.name: labels.counts() for labels in converted},
        },
    }


def _write_labels(label_dir: Path, dataset_names: list[str], contents: list[bytes]) -> None:
    for sub in sorted({f.rpartition("/")[0] for f in dataset_names}):
        (label_dir / sub).mkdir(parents=True, exist_ok=True)
    prefix = str(label_dir)  # plain strings, not Path objects: this runs once per image at COCO scale
    for dataset_file_name, content in zip(dataset_names, contents):
        name = f"{prefix}/{label_name(dataset_file_name)}"
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            if os.write(fd, content) != len(content):
                raise OSError(f"{name}: short write")
        finally:
            os.close(fd)
