"""The OKS sigmas of a dataset: given, estimated from double labels, or assumed (never 1/K)."""

import math

import numpy as np
import pytest
import torch
from posepipe.dataset.demo import COCO_KEYPOINTS
from posepipe.dataset.oks_sigmas import (
    ASSUMED_SIGMA,
    COCO_SIGMAS,
    MIN_PAIRS,
    OKS_AREA_SHARE,
    assumed,
    estimated,
    given,
    paired,
)
from posepipe.infra.errors import PosepipeError
from ultralytics.utils.metrics import OKS_SIGMA, kpt_iou


def oks_of_one_move(sigma: float, k: int, moved_by: float) -> float:
    """Ultralytics' OKS of an object whose one keypoint of K lies `moved_by` x s from its label
    (s^2 = 0.53 x box area), the others exact, with every keypoint's sigma `sigma`."""
    area = 100.0 * 100.0
    s = math.sqrt(OKS_AREA_SHARE * area)
    truth = torch.zeros(1, k, 3)
    truth[..., 2] = 2
    truth[0, :, 0] = torch.arange(k) * 10.0
    predicted = truth[..., :2].clone()
    predicted[0, 0, 0] += moved_by * s
    s_squared = torch.tensor([OKS_AREA_SHARE * area])  # what Ultralytics' validator passes as `area`
    return float(kpt_iou(truth, predicted[..., :2].unsqueeze(0)[0], s_squared, torch.full((k,), sigma))[0, 0])


def test_the_old_one_over_k_takes_a_keypoint_a_fifth_of_the_scale_away_as_a_match_and_the_assumed_sigma_does_not():
    """K = 4: with 1/K = 0.25 the moved keypoint scores 0.92 and the object 0.98, a match at every
    OKS threshold of mAP50-95 up to 0.9; with the assumed K-independent sigma the keypoint scores
    0.33 and the object 0.83, no match at 0.9 (nor at 0.85)."""
    one_over_k = oks_of_one_move(1 / 4, 4, 0.2)
    ours = oks_of_one_move(assumed(["a", "b", "c", "d"], True).values[0], 4, 0.2)
    # OKS is the mean over the 4 keypoints: the moved one's own score is what 0.92 and 0.33 are
    assert round((one_over_k * 4 - 3), 2) == 0.92 and one_over_k > 0.9
    assert round((ours * 4 - 3), 2) == 0.33
    assert one_over_k >= 0.9 > 0.85 > ours


def test_assumed_sigmas_are_cocos_for_cocos_keypoints_and_one_value_otherwise():
    assert assumed(list(COCO_KEYPOINTS), True).values == list(COCO_SIGMAS) == OKS_SIGMA.tolist()
    assert assumed([f"kp{i}" for i in range(17)], False).values == list(COCO_SIGMAS)
    fish = assumed([f"fin{i}" for i in range(17)], True)
    assert fish.values == [ASSUMED_SIGMA] * 17 and ASSUMED_SIGMA == round(float(np.mean(OKS_SIGMA)), 4) == 0.0669
    assert assumed(["tip", "handle"], True).source == "assumed"


def test_given_sigmas_must_be_one_per_keypoint_and_the_fault_names_the_key():
    assert given([0.05, 0.1], ["tip", "handle"], "datasets.tools.kpt_oks_sigmas").values == [0.05, 0.1]
    with pytest.raises(PosepipeError) as raised:
        given([0.05], ["tip", "handle"], "datasets.tools.kpt_oks_sigmas")
    assert str(raised.value) == "datasets.tools.kpt_oks_sigmas: 1 values, but the dataset has 2 keypoints (tip, handle)"


def double_labels(sigmas: np.ndarray, objects: int, seed: int = 0):
    """Objects labelled twice: the second label of keypoint i lies off the first by a Gaussian
    with E[d^2] = sigma_i^2 s^2 (per coordinate sigma_i s / sqrt 2), s^2 = 0.53 x box area."""
    rng = np.random.default_rng(seed)
    k = len(sigmas)
    sides = rng.uniform(40, 300, size=(objects, 2))
    areas = sides.prod(axis=1)
    first = np.zeros((objects, k, 3))
    first[..., :2] = rng.uniform(0, 1, size=(objects, k, 2)) * sides[:, None, :]
    first[..., 2] = 2
    s = np.sqrt(OKS_AREA_SHARE * areas)
    second = first.copy()
    second[..., :2] += rng.normal(size=(objects, k, 2)) * (sigmas[None, :, None] * s[:, None, None] / np.sqrt(2))
    return first, second, areas


def test_double_labels_with_known_noise_give_back_their_sigmas_within_15_percent():
    truth = np.array([0.025, 0.05, 0.08, 0.11, 0.035, 0.07, 0.06, 0.09, 0.1])  # a fish's 9 keypoints
    first, second, areas = double_labels(truth, objects=300)
    found = estimated(first, second, areas, assumed([f"k{i}" for i in range(9)], True), "relabelled.json")
    assert found.source == "estimated" and found.pairs == [300] * 9
    np.testing.assert_allclose(found.values, truth, rtol=0.15)


def test_a_keypoint_with_too_few_pairs_keeps_the_assumed_sigma_and_says_so():
    first, second, areas = double_labels(np.array([0.03, 0.09]), objects=MIN_PAIRS + 5)
    second[5:, 1, 2] = 0  # the second labeller left keypoint 1 out on most objects
    fallback = assumed(["tip", "handle"], True)
    found = estimated(first, second, areas, fallback, "relabelled.json")
    assert found.pairs == [MIN_PAIRS + 5, 5] and found.values[1] == ASSUMED_SIGMA
    assert "1 of 2 keypoints" in found.detail and "the others 0.0669 for every keypoint" in found.detail
    record = found.record(["tip", "handle"])
    assert [entry["source"] for entry in record["per_keypoint"]] == ["estimated", "assumed"]


def test_objects_pair_within_an_image_by_class_and_box_overlap():
    kp = lambda x: np.array([[[x, x, 2]]], dtype=float)  # noqa: E731
    first = {"a.jpg": (np.array([0, 1]), np.array([[0, 0, 10, 10], [50, 50, 10, 10]]), np.concatenate([kp(1), kp(2)]))}
    second = {
        "a.jpg": (np.array([1, 0]), np.array([[51, 50, 10, 10], [1, 0, 10, 10]]), np.concatenate([kp(20), kp(10)])),
        "b.jpg": (np.array([0]), np.array([[0, 0, 10, 10]]), kp(5)),
    }
    a, b, areas = paired(first, second, k=1)
    assert sorted(zip(a[:, 0, 0], b[:, 0, 0])) == [(1, 10), (2, 20)] and areas.tolist() == [100, 100]
