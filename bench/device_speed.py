"""MaixCAM speed from TPU-MLIR's cost model, calibrated on Sipeed's published frame rates.

Usage: .venv/bin/python bench/device_speed.py [--work DIR] [--reuse] [--write]

Deploys the architectures of MaixPy's README, "Performance comparison", MaixCAM column, at their
published input sizes: INT8 for cv181x, through posepipe's own model_transform, run_calibration
and model_deploy argument builders and runner (the project's TPU-MLIR venv, built first by
`snakemake tpu_mlir_venv`), calibrated on four demo images. Speed does not depend on the
weights, so the YOLO detectors are built from their Ultralytics YAML and the classifiers are
torchvision's, untrained; the detectors are cut where MaixCAM's YOLO models end (the DFL
convolution and the class sigmoid). Each model's cost is read from what model_deploy wrote
(posepipe.device.speed.model_cost: its layer groups' costs, and the work of the layers it left
outside groups). Prints published against estimated for every point, with the leave-one-out
error of the fit; --write stores the fitted constants, the points and the errors in
workflow/posepipe/device/speed.json, which the pipeline's estimates use. --reuse takes the
models already built under --work.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "workflow"))
from posepipe.device import input_contract  # noqa: E402
from posepipe.device import speed as device_speed  # noqa: E402
from posepipe.infra.schema import defaults  # noqa: E402
from posepipe.infra.shared_env import default_root  # noqa: E402
from posepipe.tpu_mlir.commands import (  # noqa: E402
    QuantizeSettings,
    Recipe,
    calibration_args,
    deploy_args,
    transform_args,
)
from posepipe.tpu_mlir.env import Runner, environment_key, run_tool  # noqa: E402

SOURCE = (
    "MaixPy README (github.com/sipeed/MaixPy), 'Performance comparison', MaixCAM column: "
    "frames per second of each model at its input size (width x height)"
)
# (point, architecture, height, width, published fps)
PUBLISHED = [
    ("YOLO11n detect 224x224", "yolo11n.yaml", 224, 224, 175),
    ("YOLO11n detect 320x224", "yolo11n.yaml", 224, 320, 120),
    ("YOLO11n detect 320x320", "yolo11n.yaml", 320, 320, 95),
    ("YOLO11n detect 640x640", "yolo11n.yaml", 640, 640, 23),
    ("YOLOv8n detect 640x640", "yolov8n.yaml", 640, 640, 23),
    ("MobileNetV2 224x224", "mobilenet_v2", 224, 224, 130),
    ("ResNet18 224x224", "resnet18", 224, 224, 62),
    ("ResNet50 224x224", "resnet50", 224, 224, 28),
]
CALIBRATION_IMAGES = 4
TPU_MLIR_VERSION = defaults("quantize")["tpu_mlir_version"]  # the fit holds for the tools that made the costs


def tpu_mlir_runner() -> Runner:
    """The project's TPU-MLIR venv, built (or found) by its own rule."""
    snakemake = [sys.executable, "-m", "snakemake", "--cores", "1", "--directory", str(REPO), "tpu_mlir_venv"]
    subprocess.run(snakemake, check=True, capture_output=True)
    requirements = (REPO / "envs" / "tpu-mlir-requirements.txt").read_text()
    venv = default_root() / f"tpu-mlir-{environment_key(TPU_MLIR_VERSION, requirements)}"
    return Runner("venv", str(venv))


def yolo_detector_onnx(architecture: str, height: int, width: int, work: Path) -> tuple[Path, list[str]]:
    """The detector built from its YAML, exported, and cut at MaixCAM's outputs."""
    import onnx
    from posepipe.training.ultralytics_env import prepare

    prepare(work / "ultralytics")
    from ultralytics import YOLO

    folder = work / "export"
    folder.mkdir()
    before = Path.cwd()
    os.chdir(folder)  # Ultralytics writes a YAML-built model's export into the working folder
    try:
        exported = Path(YOLO(architecture).export(format="onnx", imgsz=[height, width], opset=17, simplify=True))
    finally:
        os.chdir(before)
    exported = exported if exported.is_absolute() else folder / exported
    graph = onnx.load(str(exported)).graph
    dfl = next(n.output[0] for n in graph.node if n.op_type == "Conv" and "/dfl/" in n.name)
    classes = next(
        n.output[0] for n in graph.node if n.op_type == "Sigmoid" and re.fullmatch(r"/model\.\d+/Sigmoid", n.name)
    )
    cut = work / "model.onnx"
    onnx.utils.extract_model(str(exported), str(cut), ["images"], [dfl, classes])
    return cut, [dfl, classes]


def classifier_onnx(architecture: str, height: int, width: int, work: Path) -> tuple[Path, list[str]]:
    import torch
    import torchvision

    model = getattr(torchvision.models, architecture)(weights=None).eval()
    path = work / "model.onnx"
    torch.onnx.export(
        model, torch.zeros(1, 3, height, width), str(path), opset_version=17,
        input_names=["images"], output_names=["logits"], dynamo=False,
    )  # fmt: skip
    return path, ["logits"]


def deployed_cost(
    name: str, onnx_path: Path, outputs: list[str], height: int, width: int, runner: Runner
) -> dict[str, int]:
    """model_transform, KL calibration and an INT8 model_deploy for cv181x in the ONNX's folder."""
    work = onnx_path.parent
    settings = QuantizeSettings(
        model_name=name, height=height, width=width, output_names=tuple(outputs),
        mean=input_contract.MEAN, scale=input_contract.SCALE, pixel_format=input_contract.PIXEL_FORMAT,
        processor="cv181x", transform_tolerance=(0.9, 0.6), tpu_mlir_version=TPU_MLIR_VERSION,
    )  # fmt: skip
    images = sorted((REPO / "results" / "demo" / "images" / "train").glob("*.jpg"))[:CALIBRATION_IMAGES]
    if len(images) < CALIBRATION_IMAGES:
        raise SystemExit("no demo images: run `make run` (or `snakemake demo_dataset`) first")
    (work / "calibration").mkdir()
    for image in images:
        shutil.copyfile(image, work / "calibration" / image.name)
    shutil.copyfile(images[0], work / "test.jpg")
    logs = work / "logs"
    logs.mkdir()
    run_tool(runner, transform_args(settings, onnx_path.name, "test.jpg"), work, logs / "transform.log")
    run_tool(runner, calibration_args(settings, "kl", "calibration", len(images)), work, logs / "calibration.log")
    recipe = Recipe.from_config({"name": "int8"})
    run_tool(runner, deploy_args(settings, recipe, f"{name}.cvimodel", None), work, logs / "deploy.log")
    return device_speed.model_cost(work)


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, help="where the models are built (default: a temporary folder)")
    parser.add_argument("--reuse", action="store_true", help="take the models already built under --work")
    parser.add_argument("--write", action="store_true", help="store the fit in workflow/posepipe/device/speed.json")
    options = parser.parse_args()
    root = Path(options.work or tempfile.mkdtemp(prefix="posepipe-speed-")).resolve()
    runner = None if options.reuse else tpu_mlir_runner()
    points = []
    for point, architecture, height, width, fps in PUBLISHED:
        work = root / re.sub(r"[^A-Za-z0-9]+", "_", point)
        if not options.reuse:
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            build = yolo_detector_onnx if architecture.endswith(".yaml") else classifier_onnx
            torch.manual_seed(0)  # the same untrained weights on every run
            onnx_path, outputs = build(architecture, height, width, work)
            deployed_cost("model", onnx_path, outputs, height, width, runner)
        cost = device_speed.model_cost(work)
        points.append({"point": point, "height": height, "width": width, "published_fps": fps, **cost})
        print(f"{point}: {cost}", flush=True)
    ms = [1000.0 / p["published_fps"] for p in points]
    constants = device_speed.fit(points, ms)
    errors = device_speed.leave_one_out(points, ms)
    rates = " + ".join(f"{feature} x {constants['ms_per'][feature]:.4g}" for feature in device_speed.FEATURES)
    print(f"\nms = {rates}  (TPU-MLIR {TPU_MLIR_VERSION}, cv181x, INT8)")
    header = ("group cost", 11), ("global MACs", 12), ("published ms", 13), ("estimated ms", 13), ("LOO error", 10)
    print(f"{'point':<24}" + "".join(f" {name:>{width}}" for name, width in header))
    for p, published, error in zip(points, ms, errors):
        estimated = device_speed.estimate(p, constants)["estimated_ms"]
        p["leave_one_out_error"] = error
        print(
            f"{p['point']:<24} {p['group_cost']:>11} {p['global_macs']:>12} {published:>13.1f} {estimated:>13.1f} "
            f"{error:>+10.1%}"
        )
    if options.write:
        record = {"source": SOURCE, "tpu_mlir_version": TPU_MLIR_VERSION, "processor": "cv181x", "quantize": "INT8"}
        record.update(constants, points=points)
        device_speed.CALIBRATION_FILE.write_text(json.dumps(record, indent=1) + "\n")
        print(f"written: {device_speed.CALIBRATION_FILE}")


if __name__ == "__main__":
    main()
