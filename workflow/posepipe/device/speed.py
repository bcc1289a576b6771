"""On-device speed known before flashing: TPU-MLIR's own cost model, calibrated on the MaixCAM
frame rates Sipeed publishes.

model_deploy's layer-group pass optimises a cycle model of the TPU and writes the cost of every
group it settles on (`<model>_<processor>_<quant>.layer_group_cache.json`, `group_cost`); BF16
layers cost more there, as on the device. Layers it leaves outside groups ("GlobalLayer": the
convolutions too large for local memory, say) it lists with a cost of 0, so their work is
counted from the deployed MLIR instead: the multiply-accumulates of each global convolution and
matrix product (`global_macs`). A frame's time is then `ms = group_cost * ms_per_group_cost +
global_macs * ms_per_global_mac`: two rates, no intercept (an overhead term made the
leave-one-out errors worse). `bench/device_speed.py` fits them to the published points and
stores them, with the figures they came from and each point's leave-one-out error, in
`device_speed.json` beside this module.
"""

import json
import re
from pathlib import Path

import numpy as np

CALIBRATION_FILE = Path(__file__).with_name("speed.json")
FEATURES = ("group_cost", "global_macs")
_OP = re.compile(r'"tpu\.(\w+)"\(')
_TENSOR = re.compile(r"tensor<((?:\d+x)+)\w")


def group_cost(layer_group_cache: dict) -> int:
    """The summed `group_cost` of every layer group model_deploy settled on."""
    return sum(
        group["group_cost"]
        for key, function in layer_group_cache.items()
        if key.startswith("subfunc_")
        for group in function["GroupLayer"]
    )


def _shapes(text: str) -> list[tuple[int, ...]]:
    return [tuple(int(d) for d in found.rstrip("x").split("x")) for found in _TENSOR.findall(text)]


def global_macs(final_mlir: str) -> int:
    """Multiply-accumulates of the convolutions and matrix products outside layer groups (an op
    in a group carries its `ginfo`), from their operand and result types."""
    macs = 0
    for line in final_mlir.splitlines():
        op = _OP.search(line)
        if not op or "ginfo" in line or op.group(1) not in ("Conv2D", "Deconv", "MatMul") or ") -> " not in line:
            continue
        operands, result = line[line.rindex(" : (") :].split(") -> ", 1)
        inputs, output = _shapes(operands), _shapes(result)[0]
        if op.group(1) == "MatMul":
            macs += int(np.prod(output)) * inputs[0][-1]
        else:
            kernel = re.search(r"kernel_shape = \[(\d+), (\d+)\]", line)
            groups = re.search(r" group = (\d+)", line)
            per_output = inputs[0][1] // (int(groups.group(1)) if groups else 1) * int(kernel[1]) * int(kernel[2])
            macs += int(np.prod(output)) * per_output
    return macs


def model_cost(work_dir: Path, prefix: str = "") -> dict[str, int]:
    """The cost features of the model model_deploy built in `work_dir` (files named `prefix*`)."""
    found = {}
    for kind, pattern in (("cache", "*.layer_group_cache.json"), ("mlir", "*_final.mlir")):
        files = sorted(Path(work_dir).glob(prefix + pattern))
        if len(files) != 1:
            raise FileNotFoundError(f"{work_dir}: {len(files)} files {prefix + pattern} of model_deploy, expected one")
        found[kind] = files[0].read_text()
    return {"group_cost": group_cost(json.loads(found["cache"])), "global_macs": global_macs(found["mlir"])}


def calibration() -> dict:
    return json.loads(CALIBRATION_FILE.read_text())


def estimate(cost: dict[str, int], constants: dict) -> dict:
    """Estimated milliseconds and frames per second of one frame on the device."""
    ms = sum(cost[feature] * constants["ms_per"][feature] for feature in FEATURES)
    return {"estimated_ms": round(ms, 2), "estimated_fps": round(1000.0 / ms, 1)}


def description(constants: dict) -> dict:
    """What an estimate rests on, for the reports: the constants, their source and how far the
    fit missed each published point it was not fitted to."""
    errors = [abs(point["leave_one_out_error"]) for point in constants["points"]]
    return {
        "estimate": "TPU-MLIR's layer-group cost model, calibrated on Sipeed's published MaixCAM figures",
        "source": constants["source"],
        "ms_per": constants["ms_per"],
        "points": len(errors),
        "leave_one_out_max_error": round(max(errors), 4),
    }


def fit(costs: list[dict[str, int]], milliseconds: list[float]) -> dict:
    """The rates that best explain the published times, by least squares on the relative error
    (a 5 ms miss on a 6 ms model counts as much as 40 ms on a 43 ms one)."""
    ms = np.asarray(milliseconds, dtype=np.float64)
    design = np.array([[cost[f] for f in FEATURES] for cost in costs], dtype=np.float64) / ms[:, None]
    rates, *_ = np.linalg.lstsq(design, np.ones_like(ms), rcond=None)
    return {"ms_per": {feature: float(rate) for feature, rate in zip(FEATURES, rates)}}


def leave_one_out(costs: list[dict[str, int]], milliseconds: list[float]) -> list[float]:
    """Each point's relative error when the rates are fitted to all the other points."""
    errors = []
    for i in range(len(costs)):
        rest = [j for j in range(len(costs)) if j != i]
        constants = fit([costs[j] for j in rest], [milliseconds[j] for j in rest])
        predicted = sum(costs[i][f] * constants["ms_per"][f] for f in FEATURES)
        errors.append(round(predicted / milliseconds[i] - 1, 4))
    return errors
