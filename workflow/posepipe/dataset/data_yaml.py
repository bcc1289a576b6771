"""The converted dataset as training and validation read it."""

from pathlib import Path

import yaml


def read_data_yaml(dataset_dir: Path) -> dict:
    return yaml.safe_load((Path(dataset_dir) / "data.yaml").read_text())


def runtime_data_yaml(dataset_dir: Path, destination: Path) -> Path:
    """A copy of the dataset's data.yaml with the dataset's absolute `path`, for a copy that
    lives elsewhere (Ultralytics resolves a missing `path` from the YAML's own folder)."""
    data = read_data_yaml(dataset_dir)
    data["path"] = str(Path(dataset_dir).resolve())
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return destination


def split_images(dataset_dir: Path, split: str) -> list[Path]:
    """A split's images in a stable order."""
    return sorted(p for p in (Path(dataset_dir) / "images" / split).rglob("*") if p.is_file())


def val_images(dataset_dir: Path) -> list[Path]:
    return split_images(dataset_dir, "val")


def first_val_image(dataset_dir: Path) -> Path:
    """A real image for numerical checks: the first of the val split."""
    return val_images(dataset_dir)[0]
