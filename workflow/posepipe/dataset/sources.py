"""A dataset in each form the config takes it: a train and a val split; one export of every
image (`annotations` + `images`), split by posepipe (split.py); or an export folder of split
subfolders as Roboflow writes it (`train/`, `valid/`, each with its `_annotations.coco.json`
beside the images). Where its files are, and each split's records read from them."""

from dataclasses import dataclass
from pathlib import Path

from posepipe.dataset import split as export_split
from posepipe.dataset.coco_json import Categories, Coco, read_coco
from posepipe.dataset.coco_records import check_categories, check_images
from posepipe.infra.errors import PosepipeError

# Roboflow's COCO export: one folder per split, the annotations beside the images
EXPORT_ANNOTATIONS = "_annotations.coco.json"
EXPORT_VAL_FOLDERS = ("valid", "val")  # Roboflow's name first


@dataclass(frozen=True)
class DatasetInput:
    name: str  # the convert rule's input name
    path: str
    key: str  # the config key that names it, below datasets.<name>
    is_dir: bool


def is_one_export(dataset: dict) -> bool:
    """A dataset entry given as one export of every image, which posepipe splits."""
    return "annotations" in dataset


def dataset_inputs(dataset: dict, workdir: Path) -> list[DatasetInput]:
    """The files a dataset entry names, as the convert rule takes them (paths relative to
    `workdir`, where an export folder's val subfolder is looked for)."""
    if is_one_export(dataset):
        inputs = [
            DatasetInput("annotations", dataset["annotations"], "annotations", False),
            DatasetInput("images", dataset["images"], "images", True),
        ]
    elif "folder" in dataset:
        inputs = _export_folder(dataset["folder"], workdir)
    else:
        inputs = [
            DatasetInput(f"{split}_{kind}", dataset[split][key], f"{split}.{key}", kind == "images")
            for split in ("train", "val")
            for kind, key in (("json", "annotations"), ("images", "images"))
        ]
    if "relabelled" in dataset:
        inputs.append(DatasetInput("relabelled", dataset["relabelled"], "relabelled", False))
    return inputs


def _export_folder(folder: str, workdir: Path) -> list[DatasetInput]:
    val = next((name for name in EXPORT_VAL_FOLDERS if Path(workdir, folder, name).is_dir()), EXPORT_VAL_FOLDERS[0])
    inputs = []
    for split, sub in (("train", "train"), ("val", val)):
        inputs.append(DatasetInput(f"{split}_json", f"{folder}/{sub}/{EXPORT_ANNOTATIONS}", "folder", False))
        inputs.append(DatasetInput(f"{split}_images", f"{folder}/{sub}", "folder", True))
    return inputs


@dataclass(frozen=True)
class Split:
    """One split as the user gives it: a COCO keypoints JSON and the folder its file_names are in."""

    annotations: Path
    images: Path


@dataclass(frozen=True)
class OneExport:
    """A dataset given as one export of every image (one COCO JSON, one image folder), split
    into train and val here (split.py)."""

    annotations: Path
    images: Path
    settings: export_split.SplitSettings


def read_splits(source: dict[str, Split] | OneExport) -> tuple[dict[str, tuple[Split, Coco]], Categories, dict | None]:
    """Each split's records and their categories, checked alike; for one export, the sides it
    is split into and the record of which images went where."""
    if isinstance(source, OneExport):
        coco = read_coco(source.annotations)
        categories = check_categories(source.annotations, coco.categories, coco.annotations)
        check_images(source.annotations, coco.images)  # a repeated id or file name across the two sides too
        file_names = [image.file_name for image in coco.images]
        is_val = export_split.val_mask(file_names, source.settings)
        export_split.checked_sides(str(source.annotations), file_names, is_val, source.settings)
        sides = export_split.split_coco(coco, is_val)
        export_split.warn_classes_without_val(str(source.annotations), sides, categories)
        names = {side: [image.file_name for image in records.images] for side, records in sides.items()}
        record = export_split.split_record(str(source.annotations), source.settings, names)
        whole = Split(source.annotations, source.images)
        return {side: (whole, records) for side, records in sides.items()}, categories, record
    read, categories = {}, None
    for name, split in source.items():
        coco = read_coco(split.annotations)
        found = check_categories(split.annotations, coco.categories, coco.annotations)
        if categories is not None and found != categories:
            raise PosepipeError(
                f"{split.annotations}: categories differ from the other split's (ids, names or keypoint names)"
            )
        read[name], categories = (split, coco), found
    return read, categories, None
