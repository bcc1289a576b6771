"""Where Ultralytics' loader finds each image and label: names it would misread renamed one to
one, one label file per image, and data.yaml with what the conversion decided."""

import pytest
from posepipe.dataset.coco_json import Categories
from posepipe.dataset.flip_idx import FlipIdx
from posepipe.dataset.yolo_layout import data_yaml, dataset_name, label_name, write_labels


@pytest.mark.parametrize(
    ("file_name", "placed"),
    [
        ("a/b.jpg", "a/b.jpg"),
        ("images/a.jpg", "images_/a.jpg"),
        ("images_/a.jpg", "images__/a.jpg"),
        (".hidden/a.jpg", "_.hidden/a.jpg"),
        ("_.x/a.jpg", "__.x/a.jpg"),
        ("x/images", "x/images_"),
    ],
)
def test_names_the_loader_would_misread_are_renamed_one_to_one(file_name, placed):
    assert dataset_name(file_name) == placed


def test_the_label_of_an_image_is_its_stem_with_txt():
    assert label_name("a/b.c.jpg") == "a/b.c.txt"


def test_labels_are_written_in_the_folders_their_names_imply(tmp_path):
    write_labels(tmp_path, ["x/a.jpg", "b.png"], [b"0 0.5 0.5 0.1 0.1\n", b""])
    assert (tmp_path / "x" / "a.txt").read_bytes() == b"0 0.5 0.5 0.1 0.1\n"
    assert (tmp_path / "b.txt").read_bytes() == b""


def test_data_yaml_holds_the_keypoint_shape_the_classes_and_what_the_conversion_decided():
    categories = Categories([3, 7], ["hand", "tool"], ["l_tip", "r_tip"], True, [[0, 1]], [], [])
    counts = {"train": {"images": 4}, "val": {"images": 1}}
    record = {"source": "given", "detail": "the config", "per_keypoint": []}
    data = data_yaml(counts, categories, FlipIdx([1, 0], "derived", ""), [0.05, 0.07], record)
    assert data["kpt_shape"] == [2, 3] and data["flip_idx"] == [1, 0]
    assert data["names"] == {0: "hand", 1: "tool"} and data["category_ids"] == {0: 3, 1: 7}
    assert (data["train"], data["val"]) == ("images/train", "images/val") and "path" not in data
    assert data["kpt_oks_sigmas"] == [0.05, 0.07]
    assert data["posepipe"] == {"flip_idx_source": "derived", "kpt_oks_sigmas": record, "splits": counts}
    assert "flip_idx" not in data_yaml(counts, categories, FlipIdx(None, "none", ""), [0.05, 0.07], record)
