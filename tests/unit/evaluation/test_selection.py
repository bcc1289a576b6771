"""Which candidate ships (posepipe.evaluation.selection), on rows built on purpose; the gate on real
candidates is in tests/workflow/test_quantize.py."""

import math

import numpy as np
import pytest
from posepipe.evaluation.bootstrap import resample_draws
from posepipe.evaluation.keypoints import worst_drop
from posepipe.evaluation.selection import choose
from posepipe.infra.errors import PosepipeError


def row(recipe, ms, size, pose, passed=True):
    """A candidate of the table choose() reads: cost (estimated ms on the device, size) and accuracy."""
    return {
        "recipe": recipe,
        "bf16_share": 0.0,
        "estimated_ms": ms,
        "estimated_fps": round(1000 / ms, 1),
        "size_bytes": size,
        "pose": {"mAP50": pose, "mAP50-95": pose},
        "pose_mAP50-95_drop": round(0.5 - pose, 6),  # against a float model at 0.5
        "pose_mAP50-95_drop_interval": [round(0.49 - pose, 6), round(0.51 - pose, 6)],
        "similarity_passed": passed,
    }


def test_the_cheapest_candidate_within_the_gate_is_chosen():
    rows = [row("bf16", 30.0, 200, 0.50), row("head", 12.0, 101, 0.49), row("int8", 10.0, 100, 0.40)]
    assert choose(rows, 0.2, "fail", max_keypoint_drop=0.1)[0]["recipe"] == "int8"  # a loose gate: the cheapest
    assert choose(rows, 0.05, "fail", max_keypoint_drop=0.1)[0]["recipe"] == "head"  # a strict one: more BF16
    assert choose(rows, 0.0, "fail", max_keypoint_drop=0.1)[0]["recipe"] == "bf16"
    with pytest.raises(PosepipeError) as error:
        choose(
            [row("int8", 10.0, 100, 0.40), row("head", 12.0, 101, 0.45, passed=False)],
            0.05,
            "fail",
            max_keypoint_drop=0.1,
        )
    message = str(error.value)
    assert message.startswith("quantize: no recipe's cvimodel is within max_accuracy_drop 0.05") and "\n" not in message
    assert "int8: pose mAP50-95 0.400 (drop +0.100, 95% interval [+0.090, +0.110])" in message
    assert "head: pose mAP50-95 0.450" in message
    assert "similarity missed" in message  # the better one missed the tools' check: not shipped either
    assert "estimated 10.0 ms (100 fps) on the device" in message
    chosen, reason = choose(
        [row("int8", 10.0, 100, 0.40), row("head", 12.0, 101, 0.45)], 0.01, "most_accurate", max_keypoint_drop=0.1
    )
    assert chosen["recipe"] == "head" and "most accurate" in reason


def test_equal_costs_go_to_the_more_accurate():
    rows = [row("int8_kl", 10.0, 100, 0.40), row("int8_mse", 10.0, 100, 0.45)]
    assert choose(rows, 0.2, "fail", max_keypoint_drop=0.1)[0]["recipe"] == "int8_mse"


def test_the_faster_of_two_candidates_within_the_gate_ships_whatever_its_size():
    """Both accurate enough; the one estimated faster on the device ships, though its file is larger."""
    rows = [row("small_but_slow", 14.0, 100, 0.49), row("large_but_fast", 11.0, 150, 0.48)]
    assert choose(rows, 0.05, "fail", max_keypoint_drop=0.1)[0]["recipe"] == "large_but_fast"
    assert choose(list(reversed(rows)), 0.05, "fail", max_keypoint_drop=0.1)[0]["recipe"] == "large_but_fast"


def one_keypoint_moved(objects: int, moved_by: float) -> dict:
    """Joined val stats of `objects` objects of size 80 (one an image), 4 keypoints each: all
    exact but the last, `moved_by` px from its label."""
    error = np.zeros((objects, 4))
    error[:, 3] = moved_by
    return {
        "images": np.array([f"{i:03d}.jpg" for i in range(objects)]),
        "targets": np.arange(objects + 1),
        "kp_size": np.full(objects, 80.0),
        "kp_labelled": np.ones((objects, 4), dtype=bool),
        "kp_error": error,
        "kp_shown": np.ones((objects, 4), dtype=bool),
    }


def test_a_candidate_that_ruins_one_keypoint_is_outside_the_gate_that_the_average_alone_passes():
    """The candidate places one of 4 keypoints 0.2 of the OKS scale off (s = sqrt(0.53) x 80 px):
    with Ultralytics' 1/K sigmas that is still an OKS match at 0.9 (tests/unit/dataset/
    test_oks_sigmas.py), so its pose mAP hardly drops; its PCK@0.1 for that keypoint falls to 0."""
    moved_by = 0.2 * math.sqrt(0.53) * 80  # 11.7 px, over 0.1 x 80
    names = ["tip", "handle", "hinge", "end"]
    worst = worst_drop(one_keypoint_moved(40, 0.0), one_keypoint_moved(40, moved_by), names, resample_draws(40))
    int8 = {**row("int8", 10.0, 100, 0.495), "worst_keypoint": worst}
    bf16 = {
        **row("bf16", 30.0, 200, 0.5),
        "worst_keypoint": {**worst, "keypoint": "tip", "drop": 0.0, "drop_interval": [0.0, 0.0]},
    }
    assert choose([int8], 0.02, "fail", max_keypoint_drop=1.0)[0]["recipe"] == "int8"  # the average alone
    chosen, _ = choose([int8, bf16], 0.02, "fail", max_keypoint_drop=0.1)
    assert chosen["recipe"] == "bf16"
    assert int8["outside_gate"] == ["keypoint 'end' pck@0.1 drop +1.000 [+1.000, +1.000] > 0.1"]
    with pytest.raises(PosepipeError) as error:
        choose([int8], 0.02, "fail", max_keypoint_drop=0.1)
    assert "worst keypoint 'end' pck@0.1 drop +1.000 [+1.000, +1.000]" in str(error.value)
    assert "(outside the gate: keypoint 'end' pck@0.1 drop +1.000 [+1.000, +1.000] > 0.1)" in str(error.value)


def test_a_keypoint_drop_the_val_split_cannot_tell_from_chance_stays_within_the_gate():
    """One of 8 labelled objects placed off (a point drop of 0.125, over the gate's 0.1): its
    interval reaches 0, so the val split cannot show the keypoint worse, and the gate holds."""
    names = ["tip", "handle", "hinge", "end"]
    worse = one_keypoint_moved(8, 0.0)
    worse["kp_error"][0, 3] = 20.0
    worst = worst_drop(one_keypoint_moved(8, 0.0), worse, names, resample_draws(8))
    assert worst["keypoint"] == "end" and worst["drop"] == 0.125 and worst["drop_interval"][0] == 0.0
    int8 = {**row("int8", 10.0, 100, 0.495), "worst_keypoint": worst}
    assert choose([int8], 0.02, "fail", max_keypoint_drop=0.1)[0] is int8 and int8["outside_gate"] == []
