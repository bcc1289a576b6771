"""A split's label rows: normalised centre-size boxes and keypoints, the rows Ultralytics'
convert_coco skips skipped, and what changed to keep every row loadable reported by id."""

import numpy as np
from posepipe.dataset.coco_records import AnnotationRecords, ImageRecords
from posepipe.dataset.label_rows import drop_repeated_rows, label_rows


def records(boxes, keypoints, has_box=None, crowd=None):
    n = len(boxes)
    images = ImageRecords(np.array([1]), np.array([0]), np.array([200]), np.array([100]), ["a.jpg"], ["a.jpg"])
    anns = AnnotationRecords(
        ids=np.arange(10, 10 + n), image=np.zeros(n, dtype=np.int64), classes=np.zeros(n, dtype=np.int64),
        boxes=np.array(boxes, dtype=np.float64), has_box=np.array(has_box or [True] * n),
        keypoints=np.array(keypoints, dtype=np.float64), has_keypoints=np.ones(n, dtype=bool),
        crowd=np.array(crowd or [False] * n),
    )  # fmt: skip
    return anns, images


def test_a_box_and_its_keypoints_are_normalised_by_the_image_size():
    rows = label_rows(*records([[50, 20, 100, 40]], [[100, 50, 2, 0, 0, 0]]), k=2)
    np.testing.assert_array_equal(rows.rows, [[0, 0.5, 0.4, 0.5, 0.4, 0.5, 0.5, 2, 0, 0, 0]])
    assert rows.image.tolist() == [0] and rows.keypoints_outside.size == rows.boxes_clipped.size == 0


def test_what_would_make_the_loader_drop_an_image_is_changed_and_reported():
    rows = label_rows(
        *records([[-10, 0, 60, 50], [10, 10, 20, 20]], [[20, 20, 2, 250, 50, 2], [15, 15, 1, 0, 0, 0]]), k=2
    )
    assert rows.keypoints_outside.tolist() == [10] and rows.boxes_clipped.tolist() == [10]
    first = rows.rows[0]
    np.testing.assert_allclose(first[1:5], [25 / 200, 25 / 100, 50 / 200, 50 / 100])
    assert first[8:].tolist() == [0, 0, 0]  # the keypoint outside the image: unlabelled


def test_crowds_and_annotations_without_a_labelled_keypoint_are_skipped_and_a_missing_box_is_derived():
    anns, images = records(
        [[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 0, 0]],
        [[5, 5, 2, 0, 0, 0], [0, 0, 0, 0, 0, 0], [40, 20, 2, 60, 40, 2]],
        has_box=[True, True, False], crowd=[True, False, False],
    )  # fmt: skip
    rows = label_rows(anns, images, k=2)
    assert len(rows.rows) == 1 and rows.boxes_derived.tolist() == [12]
    np.testing.assert_allclose(rows.rows[0][1:5], [50 / 200, 30 / 100, 20 / 200, 20 / 100])


def test_a_row_equal_to_an_earlier_one_of_the_same_image_is_dropped():
    rows = np.array(
        [[0, 0.5, 0.5, 0.1, 0.1], [0, 0.5, 0.5, 0.1, 0.1], [0, 0.5, 0.5, 0.1, 0.1], [1, 0.2, 0.2, 0.1, 0.1]]
    )
    kept, image = drop_repeated_rows(rows, np.array([0, 0, 1, 0]))
    assert kept.tolist() == rows[[0, 2, 3]].tolist() and image.tolist() == [0, 1, 0]
