"""Per-keypoint figures on conditions built on purpose: decoded detections equal to the labels
but for one keypoint moved a known distance."""

import numpy as np
import pytest
from posepipe.device.decoder import Detection
from posepipe.evaluation.bootstrap import joined_image_stats, resample_draws
from posepipe.evaluation.keypoints import keypoint_table, object_keypoints, worst_drop

NAMES = ["tip", "handle", "hinge", "end"]


def labelled_object(x0: float, y0: float) -> tuple[np.ndarray, np.ndarray]:
    """An 80 x 80 px box (size 80) and its 4 labelled keypoints."""
    box = np.array([x0, y0, x0 + 80, y0 + 80])
    points = [[x0 + 10, y0 + 10, 2], [x0 + 70, y0 + 10, 2], [x0 + 40, y0 + 40, 1], [x0 + 40, y0 + 70, 2]]
    return box, np.array(points, dtype=float)


def image(objects: list[tuple], moves: dict[int, tuple[float, float]] | None = None, visibility: float = 0.9):
    """The truth of one image and detections equal to it, keypoint i moved by moves[i] (dx, dy) in each."""
    boxes = np.array([box for box, _ in objects])
    keypoints = np.array([points for _, points in objects])
    truth = (np.zeros(len(objects)), boxes, keypoints)
    detections = []
    for box, points in objects:
        placed = points[:, :2].copy()
        for i, (dx, dy) in (moves or {}).items():
            placed[i] += (dx, dy)
        x, y, x2, y2 = box
        detections.append(
            Detection(x, y, x2 - x, y2 - y, 0, 0.9, placed.ravel().tolist(), [True] * 4, [visibility] * 4)
        )
    return detections, truth


def per_image_stats(images: dict, conf_th=0.5, keypoint_th=0.5) -> dict:
    stats = {}
    for name, (detections, truth) in images.items():
        stats[name] = {
            "tp_p": np.zeros((len(detections), 10), bool), "conf": [d.score for d in detections],
            "pred_cls": [0] * len(detections), "target_cls": truth[0],
            **object_keypoints(detections, truth, conf_th, keypoint_th),
        }  # fmt: skip
    return joined_image_stats(stats)


def test_one_keypoint_moved_a_known_distance_gives_exactly_its_error_and_pck_and_leaves_the_others_perfect():
    # 3 px right and 4 down: 5 px from its label, 0.0625 of the object's size 80
    stats = per_image_stats({"a.jpg": image([labelled_object(20, 30)], moves={1: (3, 4)})})
    table = keypoint_table(stats, NAMES, resample_draws(1, resamples=50))
    assert table["handle"]["median_px_error"] == 5.0
    assert (table["handle"]["pck@0.05"], table["handle"]["pck@0.1"]) == (0.0, 1.0)  # 5 px: over 4, under 8
    for name in ("tip", "hinge", "end"):
        assert table[name]["median_px_error"] == 0.0 and table[name]["pck@0.05"] == table[name]["pck@0.1"] == 1.0
        assert table[name]["shown"] == 1.0 and table[name]["labelled"] == 1


def test_an_object_no_shown_detection_matches_counts_as_not_correct_but_has_no_error():
    detections, truth = image([labelled_object(0, 0), labelled_object(200, 0)])
    stats = per_image_stats({"a.jpg": (detections[:1], truth)})
    table = keypoint_table(stats, NAMES, resample_draws(1, resamples=20))
    assert table["tip"]["pck@0.1"] == 0.5 and table["tip"]["median_px_error"] == 0.0 and table["tip"]["labelled"] == 2


def test_keypoints_under_the_threshold_are_not_shown():
    stats = per_image_stats({"a.jpg": image([labelled_object(0, 0)], visibility=0.3)}, keypoint_th=0.5)
    assert keypoint_table(stats, NAMES, resample_draws(1, resamples=20))["end"]["shown"] == 0.0


def val_split(moves=None, count=30):
    return {f"{i:03d}.jpg": image([labelled_object(10, 10), labelled_object(150, 20)], moves) for i in range(count)}


def test_the_worst_keypoint_drop_names_the_keypoint_that_was_moved_with_an_interval():
    reference = per_image_stats(val_split())
    candidate = per_image_stats(val_split(moves={3: (0, 12)}))  # 12 px: over 0.1 of 80
    worst = worst_drop(reference, candidate, NAMES, resample_draws(30))
    assert worst["keypoint"] == "end" and worst["drop"] == 1.0 and worst["drop_interval"] == [1.0, 1.0]
    assert {name: drop for name, drop in worst["drops"].items() if name != "end"} == dict.fromkeys(NAMES[:3], 0.0)


@pytest.mark.parametrize("count", [5, 40])
def test_intervals_hold_the_figure_and_narrow_with_more_images(count):
    rng = np.random.default_rng(1)
    images = {
        f"{i:03d}.jpg": image([labelled_object(10, 10)], moves={0: (float(rng.uniform(0, 12)), 0.0)})
        for i in range(count)
    }
    row = keypoint_table(per_image_stats(images), NAMES, resample_draws(count))["tip"]
    low, high = row["pck@0.1_interval"]
    assert low <= row["pck@0.1"] <= high and low < high
