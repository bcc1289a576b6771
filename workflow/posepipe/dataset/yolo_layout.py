"""The YOLO pose dataset as Ultralytics' loader finds it: where each image and label file goes
(it maps an image to its label by the LAST `/images/` of the path, and its glob skips hidden
names), the label files, and `data.yaml`."""

import os
import re
from pathlib import Path

from posepipe.dataset.coco_json import Categories
from posepipe.dataset.flip_idx import FlipIdx

# path components Ultralytics would misread: `images` (its label mapping), hidden (its glob)
_RENAMED_COMPONENT = re.compile(r"images_*|_*\..*")


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


def data_yaml(
    split_counts: dict[str, dict],
    categories: Categories,
    flip: FlipIdx,
    sigmas: list[float],
    sigmas_record: dict,
    split_summary: dict | None = None,
) -> dict:
    """`data.yaml`: each split's folder and what it holds (images, backgrounds, instances), the
    categories and keypoints, flip_idx, the keypoints' OKS sigmas with where they came from
    (Ultralytics' training loss and validation read them, and so does posepipe's device scoring),
    and how one export was split where it was."""
    # no `path`: Ultralytics then takes this file's folder, so the file is the same in any folder
    return {
        **{name: f"images/{name}" for name in split_counts},
        "kpt_shape": [len(categories.keypoint_names), 3],
        "kpt_oks_sigmas": sigmas,
        **({"flip_idx": flip.flip_idx} if flip.flip_idx is not None else {}),
        "names": dict(enumerate(categories.names)),
        "kpt_names": {i: categories.keypoint_names for i in range(len(categories.names))},
        "skeleton": categories.skeleton,  # 0-based keypoint pairs, for drawing (the MaixPy app)
        "category_ids": dict(enumerate(categories.ids)),
        # Ultralytics ignores this key: what the conversion decided and what it promises
        "posepipe": {
            "flip_idx_source": flip.source,
            "kpt_oks_sigmas": sigmas_record,
            "splits": split_counts,
            **({"split": split_summary} if split_summary else {}),
        },
    }


def write_labels(label_dir: Path, dataset_names: list[str], contents: list[bytes]) -> None:
    """One label file per image, in the folders its dataset name implies."""
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
