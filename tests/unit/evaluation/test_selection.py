"""Which candidate ships (posepipe.evaluation.selection), on rows built on purpose; the gate on real
candidates is in tests/test_quantize.py."""

import pytest
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
    assert choose(rows, 0.2, "fail")[0]["recipe"] == "int8"  # a loose gate: the cheapest
    assert choose(rows, 0.05, "fail")[0]["recipe"] == "head"  # a strict one: more BF16
    assert choose(rows, 0.0, "fail")[0]["recipe"] == "bf16"
    with pytest.raises(PosepipeError) as error:
        choose([row("int8", 10.0, 100, 0.40), row("head", 12.0, 101, 0.45, passed=False)], 0.05, "fail")
    message = str(error.value)
    assert message.startswith("quantize: no recipe's cvimodel is within max_accuracy_drop 0.05") and "\n" not in message
    assert "int8: pose mAP50-95 0.400 (drop +0.100, 95% interval [+0.090, +0.110])" in message
    assert "head: pose mAP50-95 0.450" in message
    assert "similarity missed" in message  # the better one missed the tools' check: not shipped either
    assert "estimated 10.0 ms (100 fps) on the device" in message
    chosen, reason = choose([row("int8", 10.0, 100, 0.40), row("head", 12.0, 101, 0.45)], 0.01, "most_accurate")
    assert chosen["recipe"] == "head" and "most accurate" in reason


def test_equal_costs_go_to_the_more_accurate():
    rows = [row("int8_kl", 10.0, 100, 0.40), row("int8_mse", 10.0, 100, 0.45)]
    assert choose(rows, 0.2, "fail")[0]["recipe"] == "int8_mse"


def test_the_faster_of_two_candidates_within_the_gate_ships_whatever_its_size():
    """Both accurate enough; the one estimated faster on the device ships, though its file is larger."""
    rows = [row("small_but_slow", 14.0, 100, 0.49), row("large_but_fast", 11.0, 150, 0.48)]
    assert choose(rows, 0.05, "fail")[0]["recipe"] == "large_but_fast"
    assert choose(list(reversed(rows)), 0.05, "fail")[0]["recipe"] == "large_but_fast"
