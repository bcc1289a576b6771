"""Export of trained weights: ONNX for the MaixCAM path, and Ultralytics' other formats.

Ultralytics writes an export beside its weights, so each export works on a private copy of
best.pt in its own folder and never writes into the training outputs. The ONNX export has its
time stamp removed from the metadata, so the same best.pt always gives the same bytes.
"""

import importlib.util
import os
import shutil
from pathlib import Path

from posepipe.infra.errors import PosepipeError
from posepipe.training.ultralytics_env import prepare

# Export formats this workflow offers besides ONNX, with the module each one needs.
OTHER_FORMATS = {
    "torchscript": "torch",
    "openvino": "openvino",
    "ncnn": "ncnn",
    "mnn": "MNN",
    "tflite": "tensorflow",
    "saved_model": "tensorflow",
    "paddle": "paddle",
    "coreml": "coremltools",
}
TIME_DEPENDENT_METADATA = ("date",)


def missing_package(export_format: str) -> str | None:
    """The module an export format needs but this environment lacks (None when ready)."""
    if export_format not in OTHER_FORMATS:
        return f"an export format ({', '.join(OTHER_FORMATS)})"
    module = OTHER_FORMATS[export_format]
    return None if importlib.util.find_spec(module) else module


def _export(weights: Path, work_dir: Path, config_dir: Path, **options) -> Path:
    prepare(config_dir)
    from ultralytics import YOLO

    work_dir = Path(work_dir)
    shutil.rmtree(work_dir, ignore_errors=True)
    work_dir.mkdir(parents=True)
    local = work_dir / "model.pt"
    shutil.copyfile(weights, local)
    return Path(YOLO(str(local)).export(device="cpu", batch=1, **options))


def strip_time_stamps(onnx_path: Path) -> None:
    import onnx

    model = onnx.load(str(onnx_path))
    kept = [p for p in model.metadata_props if p.key not in TIME_DEPENDENT_METADATA]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    onnx.save(model, str(onnx_path))


def export_onnx(*, weights: Path, destination: Path, imgsz: list[int], opset: int, work_dir: Path, config_dir: Path):
    """Static-shape ONNX at height x width, simplified; the same bytes for the same weights."""
    produced = _export(weights, work_dir, config_dir, format="onnx", imgsz=list(imgsz), opset=opset, simplify=True)
    strip_time_stamps(produced)
    os.replace(produced, destination)
    shutil.rmtree(work_dir, ignore_errors=True)


def export_other(
    *, weights: Path, export_format: str, destination: Path, imgsz: list[int], work_dir: Path, config_dir: Path
):
    """Any other format Ultralytics exports whose package is installed, into the folder `destination`."""
    if missing := missing_package(export_format):
        raise PosepipeError(f"export format '{export_format}' needs {missing}, which is not installed")
    produced = _export(weights, work_dir, config_dir, format=export_format, imgsz=list(imgsz))
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    os.replace(produced, destination / produced.name)
    shutil.rmtree(work_dir, ignore_errors=True)
