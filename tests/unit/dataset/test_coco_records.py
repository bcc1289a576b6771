"""The checks of a split's COCO records, each fault one line naming the file and the record."""

from pathlib import Path

import msgspec
import numpy as np
import pytest
from posepipe.dataset.coco_json import Annotation, Category, Image
from posepipe.dataset.coco_records import check_annotations, check_categories, check_images
from posepipe.infra.errors import PosepipeError

JSON = Path("data/train.json")


def annotation(id, image_id=1, category_id=1, bbox="[10, 10, 20, 20]", keypoints="[15, 15, 2, 0, 0, 0]"):
    return Annotation(id, image_id, category_id, msgspec.Raw(bbox.encode()), msgspec.Raw(keypoints.encode()))


def test_categories_are_sorted_by_id_with_a_groupings_left_out_and_the_skeleton_made_zero_based():
    categories = [
        Category(7, "tool", ["tip", "handle"], [[1, 2]]),
        Category(3, "hand", ["tip", "handle"]),
        Category(1, "things"),  # a super-category: no keypoints, no annotation
    ]
    checked = check_categories(JSON, categories, [annotation(1, category_id=7)])
    assert (checked.ids, checked.names, checked.keypoint_names) == ([3, 7], ["hand", "tool"], ["tip", "handle"])
    assert checked.not_classes == ["id 1 'things'"] and checked.skeleton == []


def test_without_keypoint_names_k_comes_from_the_annotations():
    checked = check_categories(JSON, [Category(1, "face")], [annotation(1, keypoints="[1, 2, 2, 3, 4, 2, 5, 6, 2]")])
    assert checked.keypoint_names == ["kp0", "kp1", "kp2"] and not checked.named_keypoints


@pytest.mark.parametrize(
    ("categories", "fault"),
    [
        ([], "data/train.json: 'categories' is empty"),
        ([Category(1, "a", ["x"]), Category(1, "b", ["x"])], "data/train.json: category id 1: duplicate category id"),
        (
            [Category(1, "a", ["x", "y"]), Category(2, "b", ["x"])],
            "data/train.json: category id 2: 1 keypoint names, but category id 1 has 2 "
            "(a YOLO pose model has one keypoint count)",
        ),
    ],
)
def test_a_category_fault_is_one_line(categories, fault):
    with pytest.raises(PosepipeError) as raised:
        check_categories(JSON, categories, [annotation(1)])
    assert str(raised.value) == fault


def test_images_are_checked_and_named_for_the_loader():
    records = check_images(JSON, [Image(5, "./a//b.jpg", 100, 50), Image(2, "images/c.png", 20, 20)])
    assert records.file_names == ["a/b.jpg", "images/c.png"] and records.dataset_names == ["a/b.jpg", "images_/c.png"]
    assert records.order.tolist() == [1, 0]


@pytest.mark.parametrize(
    ("images", "fault"),
    [
        ([Image(1, "a.jpg", 9, 100)], "image id 1: 9x100 px; Ultralytics drops images under 10 px a side"),
        ([Image(1, "a.jpg", 20, 20), Image(1, "b.jpg", 20, 20)], "image id 1: duplicate image id"),
        ([Image(1, "../a.jpg", 20, 20)], "image id 1: file_name '../a.jpg' escapes the image folder"),
        ([Image(1, "a.gif.txt", 20, 20)], "image id 1: file_name 'a.gif.txt': Ultralytics loads only"),
        ([Image(1, "a.jpg", 20, 20), Image(2, "a.png", 20, 20)], "would share the label file 'a.txt'"),
    ],
)
def test_an_image_fault_is_one_line_naming_the_record(images, fault):
    with pytest.raises(PosepipeError) as raised:
        check_images(JSON, images)
    assert str(raised.value).startswith("data/train.json: ") and fault in str(raised.value)
    assert "\n" not in str(raised.value)


def test_annotations_become_arrays_indexed_by_image_and_class():
    images = check_images(JSON, [Image(9, "b.jpg", 100, 100), Image(4, "a.jpg", 100, 100)])
    categories = check_categories(JSON, [Category(1, "x", ["p", "q"]), Category(2, "y", ["p", "q"])], [])
    records = check_annotations(
        JSON, [annotation(1, image_id=4, category_id=2), annotation(2, image_id=9, bbox="null")], images, categories
    )
    assert records.image.tolist() == [1, 0] and records.classes.tolist() == [1, 0]
    assert records.has_box.tolist() == [True, False] and records.keypoints.shape == (2, 6)
    np.testing.assert_array_equal(records.boxes[0], [10, 10, 20, 20])


@pytest.mark.parametrize(
    ("record", "fault"),
    [
        (annotation(3, image_id=99), "annotation id 3: unknown image_id 99"),
        (annotation(3, category_id=5), "annotation id 3: unknown category_id 5"),
        (annotation(3, bbox="[1, 2, 3]"), "annotation id 3: bbox"),
        (annotation(3, keypoints="[1, 2, 2]"), "annotation id 3: keypoints"),
        (annotation(3, bbox="[1e9, 0, 1, 1]"), "annotation id 3: bbox holds 1e+09, not a pixel coordinate"),
    ],
)
def test_an_annotation_fault_is_one_line_naming_the_record(record, fault):
    images = check_images(JSON, [Image(1, "a.jpg", 100, 100)])
    categories = check_categories(JSON, [Category(1, "x", ["p", "q"])], [])
    with pytest.raises(PosepipeError) as raised:
        check_annotations(JSON, [record], images, categories)
    assert str(raised.value).startswith(f"data/train.json: {fault}") and "\n" not in str(raised.value)
