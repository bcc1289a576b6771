"""One labelling-tool export of every image -> a train and a val split, by image.

An image's side depends only on a hash of its group's key and the seed, never on its position
or on the other images: adding images to the export moves no earlier image between splits, and
the val share converges to `val_fraction` as the export grows. Images of one group (frames of
one video, photos of one animal) stay on one side, so that val never holds a near copy of a
training image; the group is named by a regular expression on the file name."""

import hashlib
import logging
import re
from dataclasses import asdict, dataclass, fields

import numpy as np

from posepipe.dataset.coco_json import Categories, Coco, column
from posepipe.infra.errors import PosepipeError

log = logging.getLogger("posepipe.dataset.split")

# the file written beside the converted dataset's data.yaml: which images went where
RECORD = "split.json"


@dataclass(frozen=True)
class SplitSettings:
    """How one export is split (config: datasets.<name>.val_fraction, split_seed, split_group)."""

    val_fraction: float
    split_seed: int
    split_group: str | None  # a regex on the file name: its first group (or whole match) is the key


def settings_of(dataset: dict) -> dict:
    """The split settings of a config dataset entry given as one export (defaults filled)."""
    return {field.name: dataset[field.name] for field in fields(SplitSettings)}


def group_key(file_name: str, group: re.Pattern | None) -> str:
    """The key an image is split by: its group's, or its own file name when it is in none."""
    if group is None or not (match := group.search(file_name)):
        return file_name
    return match.group(1) if group.groups and match.group(1) is not None else match.group(0)


def position(key: str, seed: int) -> float:
    """A key's place in [0, 1), uniform over keys and fixed for a key and seed."""
    digest = hashlib.sha256(f"{seed}\0{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def group_keys(file_names: list[str], settings: SplitSettings) -> list[str]:
    group = re.compile(settings.split_group) if settings.split_group else None
    return [group_key(name, group) for name in file_names]


def val_mask(file_names: list[str], settings: SplitSettings) -> np.ndarray:
    """True for each image that goes to val."""
    keys = group_keys(file_names, settings)
    in_val = {key: position(key, settings.split_seed) < settings.val_fraction for key in set(keys)}
    return np.array([in_val[key] for key in keys], dtype=bool)


def split_coco(coco: Coco, is_val: np.ndarray) -> dict[str, Coco]:
    """The export's records on each side; an annotation goes with its image (one whose image id
    is unknown stays in train, where the annotation check names it)."""
    val_ids = column(coco.images, "id")[is_val]
    ann_in_val = np.isin(column(coco.annotations, "image_id"), val_ids)
    sides = {"train": ~is_val, "val": is_val}
    return {
        name: Coco(
            images=[image for image, keep in zip(coco.images, side.tolist()) if keep],
            annotations=[
                ann for ann, in_val in zip(coco.annotations, ann_in_val.tolist()) if in_val == (name == "val")
            ],
            categories=coco.categories,
        )
        for name, side in sides.items()
    }


def checked_sides(where: str, file_names: list[str], is_val: np.ndarray, settings: SplitSettings) -> None:
    """Refuse a split that leaves a side empty (training and every score need both), else log
    what it made. A side is never filled by moving an image: that would break the promise that
    adding images moves none."""
    for side, count in (("val", int(is_val.sum())), ("train", int((~is_val).sum()))):
        if count == 0:
            raise PosepipeError(
                f"{where}: val_fraction {settings.val_fraction} (split_seed {settings.split_seed}) leaves the {side} "
                f"split empty: {len(file_names)} images in {len(set(group_keys(file_names, settings)))} groups "
                "(few images leave a side empty by chance); another split_seed or val_fraction changes that"
            )
    log.info(
        "%s: split into %d train and %d val images (%.1f%% val; val_fraction %s, split_seed %d%s)",
        where,
        int((~is_val).sum()),
        int(is_val.sum()),
        100 * is_val.mean(),
        settings.val_fraction,
        settings.split_seed,
        f", grouped by {settings.split_group!r}" if settings.split_group else "",
    )


def warn_classes_without_val(where: str, sides: dict[str, Coco], categories: Categories) -> None:
    """One warning line naming the classes that no val image shows (their val figures are empty)."""
    shown = set(column(sides["val"].annotations, "category_id").tolist())
    missing = [name for cid, name in zip(categories.ids, categories.names) if cid not in shown]
    if missing:
        log.warning(
            "%s: no val image shows class %s: its val figures will be empty; raise val_fraction or label more",
            where,
            ", ".join(map(repr, missing)),
        )


def split_record(source: str, settings: SplitSettings, sides: dict[str, list[str]]) -> dict:
    """What was split, how, and which images went where (file names as in the export, sorted)."""
    return {"source": source, **asdict(settings), **{side: sorted(names) for side, names in sides.items()}}


def split_summary(record: dict) -> dict:
    """The record without its name lists, for data.yaml and provenance: how, and how many."""
    return {
        **{key: value for key, value in record.items() if key not in ("train", "val")},
        "images": {side: len(record[side]) for side in ("train", "val")},
        "record": RECORD,
    }
