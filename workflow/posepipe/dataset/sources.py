"""Where a dataset's files are, in each form the config takes them: a train and a val split;
one export of every image (`annotations` + `images`), split by posepipe (split.py); or an
export folder of split subfolders as Roboflow writes it (`train/`, `valid/`, each with its
`_annotations.coco.json` beside the images)."""

from dataclasses import dataclass
from pathlib import Path

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
