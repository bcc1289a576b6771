"""The speed model (posepipe.device.speed): TPU-MLIR's costs to milliseconds on the device."""

import pytest
from posepipe.device import speed as device_speed

GLOBAL_CONV = (
    '    %9 = "tpu.Conv2D"(%7, %8) {dilations = [1, 1], group = 1 : i64, kernel_shape = [3, 3]} : '
    "(tensor<1x64x28x28xi8, 4096 : i64>, tensor<1x128x9x64xi8, 0 : i64>) -> tensor<1x128x28x28xi8, 8192 : i64> loc(#a)"
)
GROUPED_CONV = GLOBAL_CONV.replace("{dilations", "{ginfo = #tpu.lg<id = 3>, dilations")
DEPTHWISE = GLOBAL_CONV.replace("group = 1", "group = 64").replace("1x128x28x28xi8, 8192", "1x64x28x28xi8, 8192")
MATMUL = (
    '    %5 = "tpu.MatMul"(%3, %4) {do_relu = false} : (tensor<1x512xi8, 1 : i64>, tensor<512x1000xi8, 2 : i64>) '
    "-> tensor<1x1000xi8, 3 : i64> loc(#b)"
)


def test_the_group_cost_is_the_sum_of_every_group_of_every_function():
    cache = {
        "opt": 2,
        "total subfunc": 2,
        "subfunc_0": {"GroupLayer": [{"group_cost": 100}, {"group_cost": 250}], "GlobalLayer": [{"group_cost": 0}]},
        "subfunc_1": {"GroupLayer": [{"group_cost": 50}]},
    }
    assert device_speed.group_cost(cache) == 400


def test_global_work_counts_the_convolutions_and_products_outside_groups_only():
    assert device_speed.global_macs(GLOBAL_CONV) == 128 * 28 * 28 * 64 * 9
    assert device_speed.global_macs(GROUPED_CONV) == 0  # its group's cost has it
    assert device_speed.global_macs(DEPTHWISE) == 64 * 28 * 28 * 1 * 9
    assert device_speed.global_macs("\n".join([GLOBAL_CONV, MATMUL])) == 128 * 28 * 28 * 64 * 9 + 1000 * 512


def test_the_fit_recovers_the_rates_and_predicts_points_left_out():
    costs = [{"group_cost": g, "global_macs": m} for g, m in [(1e6, 0), (2e6, 5e7), (4e6, 1e6), (9e6, 2e8)]]
    ms = [c["group_cost"] * 2e-6 + c["global_macs"] * 1e-7 for c in costs]
    constants = device_speed.fit(costs, ms)
    assert constants["ms_per"]["group_cost"] == pytest.approx(2e-6)
    assert constants["ms_per"]["global_macs"] == pytest.approx(1e-7)
    assert max(abs(e) for e in device_speed.leave_one_out(costs, ms)) < 1e-6
    assert device_speed.estimate(costs[2], constants) == {"estimated_ms": 8.1, "estimated_fps": 123.5}


def test_the_committed_calibration_states_its_source_and_its_errors():
    calibration = device_speed.calibration()
    assert "MaixPy" in calibration["source"] and len(calibration["points"]) >= 6
    assert all(rate > 0 for rate in calibration["ms_per"].values())
    described = device_speed.description(calibration)
    assert described["leave_one_out_max_error"] == max(abs(p["leave_one_out_error"]) for p in calibration["points"])
    detection = [p for p in calibration["points"] if "detect" in p["point"]]
    assert len(detection) >= 5 and all(abs(p["leave_one_out_error"]) <= 0.2 for p in detection)


def test_an_estimate_with_the_committed_rates_is_the_arithmetic_done_by_hand():
    """YOLO11n detect at 224x224 (the calibration's first point): group cost 4,465,045 and
    2,073,856 global MACs; 4,465,045 x 1.2825e-6 ms = 5.727 ms, 2,073,856 x 1.0220e-7 ms = 0.212 ms:
    5.94 ms a frame, 1000 / 5.9385 = 168.4 fps."""
    cost = {"group_cost": 4_465_045, "global_macs": 2_073_856}
    assert device_speed.estimate(cost, device_speed.calibration()) == {"estimated_ms": 5.94, "estimated_fps": 168.4}
