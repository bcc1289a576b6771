"""The checks of a split's COCO records before anything is converted: categories (one keypoint
count, a skeleton within it), images (unique ids, sizes and file names Ultralytics' loader takes,
one label file each) and annotations (known image and category, finite numbers). Each fault is
one line naming the file and the record."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from posepipe.dataset import images as image_files
from posepipe.dataset.coco_json import (
    Annotation,
    Categories,
    Category,
    Image,
    column,
    decode_number_list,
    first,
    number_lists,
)
from posepipe.dataset.yolo_layout import dataset_name, label_name
from posepipe.infra.errors import PosepipeError

# A finite value this large is no pixel coordinate but a broken record (and would overflow
# the label writer): refused, where a point merely outside the image is made unlabelled.
MAX_COORDINATE = 1e6


def check_categories(path: Path, categories: list[Category], anns: list[Annotation]) -> Categories:
    """Categories sorted by id, one keypoint count; K from the annotations where no category
    names its keypoints (common in face-landmark sets), with names kp0..kp{K-1}. Where some
    category names keypoints, one that names none and has no annotation is a grouping, not a
    class (labelling tools such as Roboflow export a super-category so), and is left out."""
    if not categories:
        raise PosepipeError(f"{path}: 'categories' is empty")
    by_id: dict[int, Category] = {}
    for category in categories:
        if category.id in by_id:
            raise PosepipeError(f"{path}: category id {category.id}: duplicate category id")
        by_id[category.id] = category
    ordered = [by_id[i] for i in sorted(by_id)]
    named = [c for c in ordered if c.keypoints]
    if not named:
        k = _keypoint_count_from_annotations(path, anns)
        names = [f"kp{i}" for i in range(k)]
        skeleton, dropped = _skeleton(path, ordered[0], k)
        return Categories([c.id for c in ordered], [c.name for c in ordered], names, False, skeleton, [], dropped)
    used = {ann.category_id for ann in anns}
    groupings = [c for c in ordered if not c.keypoints and c.id not in used]
    ordered = [c for c in ordered if c not in groupings]
    first = named[0]
    for category in ordered:
        if len(category.keypoints or ()) != len(first.keypoints):
            raise PosepipeError(
                f"{path}: category id {category.id}: {len(category.keypoints or ())} keypoint names, but category "
                f"id {first.id} has {len(first.keypoints)} (a YOLO pose model has one keypoint count)"
            )
    skeleton, dropped = _skeleton(path, first, len(first.keypoints))
    return Categories(
        [c.id for c in ordered],
        [c.name for c in ordered],
        list(first.keypoints),
        True,
        skeleton,
        [f"id {c.id} '{c.name}'" for c in groupings],
        dropped,
    )


def _skeleton(path: Path, category: Category, k: int) -> tuple[list[list[int]], list[list[int]]]:
    """The category's skeleton as 0-based pairs, and the pairs (as given) that join a keypoint
    outside the category's K: the skeleton only draws lines in the app, so those are dropped.
    COCO's is 1-based; a list that holds a 0 and stays below K is taken as 0-based already
    (some tools write that)."""
    pairs = category.skeleton or []
    flat = [i for pair in pairs for i in pair]
    if any(len(pair) != 2 for pair in pairs):
        raise PosepipeError(f"{path}: category id {category.id}: skeleton: every entry must be a pair of keypoints")
    if not flat:
        return [], []
    offset = 0 if min(flat) == 0 and max(flat) < k else 1
    inside = [pair for pair in pairs if all(offset <= i < k + offset for i in pair)]
    return [[a - offset, b - offset] for a, b in inside], [pair for pair in pairs if pair not in inside]


def _keypoint_count_from_annotations(path: Path, anns: list[Annotation]) -> int:
    """K of a dataset whose categories name no keypoint: the first keypoint list's length / 3
    (every other list is checked against it when the lists are parsed)."""
    for ann in anns:
        raw = bytes(ann.keypoints)
        if raw not in (b"null", b"[]"):
            values = decode_number_list(path, ann, "keypoints", raw)
            if len(values) % 3:
                raise PosepipeError(
                    f"{path}: annotation id {ann.id}: keypoints has {len(values)} values, not a multiple of 3"
                )
            return len(values) // 3
    raise PosepipeError(f"{path}: no category names its keypoints and no annotation has any")


def normalised_file_name(path: Path, image: Image) -> str:
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


@dataclass
class ImageRecords:
    """A split's checked image records."""

    ids: np.ndarray  # as listed
    order: np.ndarray  # argsort of ids
    widths: np.ndarray
    heights: np.ndarray
    file_names: list[str]
    dataset_names: list[str]


def check_images(path: Path, images: list[Image]) -> ImageRecords:
    """Unique ids, sizes Ultralytics takes, one file per name and one label file per image."""
    image_ids = column(images, "id")
    order = np.argsort(image_ids, kind="stable")
    sorted_ids = image_ids[order]
    repeated = np.flatnonzero(sorted_ids[1:] == sorted_ids[:-1])
    if repeated.size:
        raise PosepipeError(f"{path}: image id {sorted_ids[repeated[0]]}: duplicate image id")
    widths, heights = column(images, "width"), column(images, "height")
    if len(images) and min(widths.min(), heights.min()) < image_files.MIN_SIDE:
        bad = images[first((widths < image_files.MIN_SIDE) | (heights < image_files.MIN_SIDE))]
        raise PosepipeError(
            f"{path}: image id {bad.id}: {bad.width}x{bad.height} px; Ultralytics drops images under "
            f"{image_files.MIN_SIDE} px a side"
        )
    pixels = widths * heights
    if len(images) and pixels.max() > image_files.max_pixels():
        bad = images[first(pixels > image_files.max_pixels())]
        raise PosepipeError(
            f"{path}: image id {bad.id}: {bad.width}x{bad.height} px; Ultralytics' image check (PIL) refuses "
            f"images over {image_files.max_pixels():,} pixels as decompression bombs: make it smaller"
        )
    file_names = [normalised_file_name(path, image) for image in images]
    dataset_names = list(map(dataset_name, file_names))
    if same := _listed_twice(file_names):
        earlier, later = (images[index] for index in same)
        raise PosepipeError(
            f"{path}: image id {later.id}: file_name '{later.file_name}' is the file of image id {earlier.id} "
            f"('{earlier.file_name}')"
        )
    label_names = list(map(label_name, dataset_names))
    if same := _listed_twice(label_names):
        other, index = same
        raise PosepipeError(
            f"{path}: image id {images[index].id}: '{file_names[index]}' and image id {images[other].id} "
            f"'{file_names[other]}' would share the label file '{label_names[index]}' (one stem per folder)"
        )
    return ImageRecords(image_ids, order, widths, heights, file_names, dataset_names)


def _listed_twice(names: list[str]) -> tuple[int, int] | None:
    """The indices of the first name listed twice (the earlier, the later); None when all differ."""
    if len(set(names)) == len(names):  # the common case, decided in C
        return None
    first_of: dict[str, int] = {}
    for index, name in enumerate(names):
        if (other := first_of.setdefault(name, index)) != index:
            return other, index
    return None


@dataclass
class AnnotationRecords:
    """A split's checked annotations as arrays, one row per annotation."""

    ids: np.ndarray
    image: np.ndarray  # index into the split's images
    classes: np.ndarray
    boxes: np.ndarray  # COCO x, y, w, h in pixels (zeros where the annotation has none)
    has_box: np.ndarray
    keypoints: np.ndarray  # (n, 3K): x, y, v
    has_keypoints: np.ndarray
    crowd: np.ndarray


def check_annotations(
    path: Path, anns: list[Annotation], images: ImageRecords, categories: Categories
) -> AnnotationRecords:
    """Known image and category, four finite box values, 3K finite keypoint values, none of
    them beyond MAX_COORDINATE."""
    n = len(anns)
    sorted_ids = images.ids[images.order]
    ann_image_ids = column(anns, "image_id")
    slot = np.minimum(np.searchsorted(sorted_ids, ann_image_ids), max(len(sorted_ids) - 1, 0))
    if n and (len(sorted_ids) == 0 or (sorted_ids[slot] != ann_image_ids).any()):
        bad = anns[first(sorted_ids[slot] != ann_image_ids) if len(sorted_ids) else 0]
        raise PosepipeError(f"{path}: annotation id {bad.id}: unknown image_id {bad.image_id}")
    category_ids = np.array(categories.ids, dtype=np.int64)
    ann_category_ids = column(anns, "category_id")
    classes = np.searchsorted(category_ids, ann_category_ids)
    unknown = (classes >= len(category_ids)) | (
        category_ids[np.minimum(classes, len(category_ids) - 1)] != ann_category_ids
    )
    if unknown.any():
        bad = anns[first(unknown)]
        raise PosepipeError(f"{path}: annotation id {bad.id}: unknown category_id {bad.category_id}")
    boxes, has_box = number_lists(path, anns, "bbox", 4, "4")
    k = len(categories.keypoint_names)
    keypoints, has_keypoints = number_lists(path, anns, "keypoints", 3 * k, f"3*K = {3 * k}")
    for name, values in (("bbox", boxes), ("keypoints", keypoints)):
        if not np.isfinite(values).all():
            bad = anns[first(~np.isfinite(values).all(axis=1))]
            raise PosepipeError(f"{path}: annotation id {bad.id}: {name} holds a non-finite value")
        huge = np.abs(values) > MAX_COORDINATE
        if huge.any():
            row = first(huge.any(axis=1))
            value = values[row][huge[row]][0]
            raise PosepipeError(
                f"{path}: annotation id {anns[row].id}: {name} holds {value:g}, not a pixel coordinate "
                f"(beyond ±{MAX_COORDINATE:g})"
            )
    crowd = column(anns, "iscrowd").astype(bool)
    return AnnotationRecords(
        column(anns, "id"), images.order[slot], classes, boxes, has_box, keypoints, has_keypoints, crowd
    )
