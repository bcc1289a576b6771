"""The converted dataset read back: data.yaml, a copy of it for a run elsewhere, and each
split's images in a stable order."""

from pathlib import Path

import yaml
from posepipe.dataset.data_yaml import first_val_image, read_data_yaml, runtime_data_yaml, split_images, val_images


def dataset(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "data.yaml").write_text(yaml.safe_dump({"train": "images/train", "val": "images/val", "kpt_shape": [4, 3]}))
    for name in ("b/2.jpg", "a.jpg", "b/1.png"):
        (root / "images" / "val" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "images" / "val" / name).write_bytes(b"")
    (root / "images" / "train").mkdir()
    return root


def test_the_split_images_are_every_file_below_the_split_in_sorted_order(tmp_path):
    root = dataset(tmp_path)
    assert [p.relative_to(root / "images" / "val").as_posix() for p in val_images(root)] == [
        "a.jpg",
        "b/1.png",
        "b/2.jpg",
    ]
    assert first_val_image(root) == root / "images" / "val" / "a.jpg" and split_images(root, "train") == []


def test_a_runtime_copy_names_the_dataset_folder_and_changes_nothing_else(tmp_path):
    root = dataset(tmp_path / "dataset")
    copy = runtime_data_yaml(root, tmp_path / "run" / "data.yaml")
    assert read_data_yaml(root) == {k: v for k, v in yaml.safe_load(copy.read_text()).items() if k != "path"}
    assert yaml.safe_load(copy.read_text())["path"] == str(root.resolve())
