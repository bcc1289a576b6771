"""The app's thresholds by F1 (posepipe.evaluation.thresholds): conditions built on purpose, not trained."""

import numpy as np
from posepipe.device.decoder import Detection
from posepipe.evaluation import thresholds as th

K = 4


def truth(boxes: list, labelled: list[list[bool]]) -> tuple:
    """validate's ground truth of one image: classes, xyxy boxes, (n, K, 3) keypoints."""
    keypoints = np.zeros((len(boxes), K, 3))
    keypoints[..., 2] = np.array(labelled, dtype=float).reshape(-1, K) * 2
    return np.zeros(len(boxes)), np.array(boxes, dtype=float), keypoints


def detection(box: tuple, score: float, visibility: list[float]) -> Detection:
    x1, y1, x2, y2 = box
    return Detection(x1, y1, x2 - x1, y2 - y1, 0, score, points=[0] * 2 * K, visibility=visibility)


def test_a_keypoint_threshold_between_the_visibilities_of_labelled_and_unlabelled_points_wins():
    """The model scores labelled keypoints 0.7-0.9 and unlabelled ones 0.2-0.4: every threshold
    from 0.4 to 0.6 draws exactly the labelled ones (F1 1); 0 draws all of them (pose mAP's
    choice, blind to unlabelled points), 0.9 none."""
    images = []
    for shift in range(6):
        gt = truth([(10, 10, 60, 90), (100, 10, 150, 90)], [[True, True, False, False], [True, False, True, False]])
        found = [
            detection((11, 10, 60, 91), 0.9, [0.9, 0.7 + shift / 100, 0.3, 0.2]),
            detection((100, 12, 149, 90), 0.8, [0.8, 0.4 - shift / 100, 0.75, 0.35]),
        ]
        images.append(th.matched_keypoints(found, gt, conf_th=0.5))
    curve = th.f1_curve(th.keypoint_counts(images, th.KEYPOINT_TH_GRID), th.KEYPOINT_TH_GRID, "keypoint_th")
    f1 = {point["keypoint_th"]: point["f1"] for point in curve}
    assert f1[0.4] == f1[0.5] == f1[0.6] == 1.0 and f1[0.0] == 0.666667 and f1[0.9] == 0.0
    assert th.best_on(curve, "keypoint_th") == 0.4  # the lowest of the tied best
    low, high = curve[0]["f1_interval"]
    assert low <= curve[0]["f1"] <= high


def test_only_detections_shown_and_matched_one_to_one_count_for_keypoints():
    gt = truth([(10, 10, 60, 90)], [[True, True, True, True]])
    found = [
        detection((10, 10, 60, 90), 0.9, [0.9] * K),  # matched
        detection((12, 10, 60, 90), 0.8, [0.1] * K),  # the same object again: not matched twice
        detection((200, 10, 260, 90), 0.95, [0.9] * K),  # nothing there
        detection((10, 10, 60, 90), 0.3, [0.1] * K),  # under conf_th: not shown
    ]
    visibility, labelled = th.matched_keypoints(found, gt, conf_th=0.5)
    assert visibility.tolist() == [[0.9] * K] and labelled.tolist() == [[True] * K]
    none = th.matched_keypoints(found, truth([], []), conf_th=0.5)
    assert none[0].shape == (0, K) and none[1].shape == (0, K)


def test_the_detection_curve_counts_matches_above_each_threshold():
    """Per-image stats as score_decoded keeps them: Ultralytics' box matches at IoU 0.5 (tp[:, 0])."""
    stats = [
        {"tp": np.array([[True], [False], [True]]), "conf": np.array([0.9, 0.6, 0.3]), "target_cls": np.zeros(3)},
        {"tp": np.zeros((0, 1), bool), "conf": np.zeros(0), "target_cls": np.zeros(1)},
    ]
    counts = th.detection_counts(stats, (0.25, 0.5, 0.95))
    assert counts.sum(axis=0).tolist() == [[2, 1, 2], [1, 1, 3], [0, 0, 4]]
    curve = th.f1_curve(counts, (0.25, 0.5, 0.95), "conf_th")
    assert [p["precision"] for p in curve] == [0.666667, 0.5, 0.0] and [p["recall"] for p in curve] == [0.5, 0.25, 0.0]
    assert th.best_on(curve, "conf_th") == 0.25


def test_a_pinned_threshold_joins_the_grid():
    assert th.with_pinned(th.KEYPOINT_TH_GRID, None) == th.KEYPOINT_TH_GRID
    assert 0.45 in th.with_pinned(th.KEYPOINT_TH_GRID, 0.45) and len(th.with_pinned(th.KEYPOINT_TH_GRID, 0.5)) == 10
