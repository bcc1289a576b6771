"""Validation metrics of a trained or exported model, and the metrics table they end up in.

Every model is validated at the deployment input size (height x width), letterboxed, with
`rect=False`: that is what an exported ONNX sees, so the .pt and ONNX figures compare like
with like. (Ultralytics validates a .pt at a square size by default.)
"""

import csv
import json
from pathlib import Path

from posepipe.dataset.data_yaml import read_data_yaml, runtime_data_yaml
from posepipe.training.ultralytics_env import prepare, run_folder, torch_device

METRIC_NAMES = ("precision", "recall", "mAP50", "mAP50-95")
# Every source of metrics.json, in table order, with its label in the report: Ultralytics' own
# validation of the .pt and the ONNX (rule validate), and the device decoder on the pruned
# ONNX (validate_device) and on the shipped cvimodel in the simulator (select_cvimodel).
ULTRALYTICS_SOURCES = ("pt", "onnx")
DECODED_SOURCES = ("device_float", "cvimodel")
METRIC_SOURCES = {
    "pt": "Ultralytics, .pt",
    "onnx": "Ultralytics, ONNX",
    "device_float": "device decoder, pruned ONNX (float)",
    "cvimodel": "device decoder, shipped cvimodel (simulator)",
}
# What each source's figures are, so that they can be read side by side (metrics.json, the report).
SOURCE_MEANINGS = {
    "pt": "Ultralytics' validation of the .pt at its own thresholds: every detection over conf 0.001, all keypoints",
    "onnx": "Ultralytics' validation of the ONNX, at its own thresholds like the .pt's",
    "device_float": "the device's decoder on the pruned float ONNX, at its F1-best conf_th and keypoint_th",
    "cvimodel": "the device's decoder on the shipped cvimodel in TPU-MLIR's simulator, at the thresholds the app "
    "ships: what the device will show",
}


def summary(values: tuple) -> dict[str, float]:
    return {name: round(float(value), 6) for name, value in zip(METRIC_NAMES, values)}


def evaluate(
    *,
    weights: Path,
    dataset_dir: Path,
    imgsz: list[int],
    batch: int,
    device: str,
    work_dir: Path,
    config_dir: Path,
) -> dict:
    """Box and pose precision, recall, mAP50, mAP50-95 on the val split, overall and per class."""
    prepare(config_dir)
    import torch
    from ultralytics.models.yolo.pose import PoseValidator

    work_dir = Path(work_dir).resolve()
    data_yaml = runtime_data_yaml(dataset_dir, work_dir / "data.yaml")
    args = dict(
        model=str(weights),
        data=str(data_yaml),
        task="pose",
        mode="val",
        split="val",
        imgsz=max(imgsz),
        batch=batch,
        rect=False,
        device=torch_device(device, torch.cuda.is_available()),
        plots=False,
        verbose=False,
        **run_folder(work_dir),
    )
    validator = PoseValidator(args=args)
    validator.args.imgsz = list(imgsz)  # the constructor squares it; keep height x width
    validator(model=str(weights))
    metrics = validator.metrics
    per_class = {}
    for index, class_id in enumerate(metrics.ap_class_index):
        name = validator.names[int(class_id)]
        per_class[name] = {
            "box": summary(metrics.box.class_result(index)),
            "pose": summary(metrics.pose.class_result(index)),
        }
    return {
        "weights": Path(weights).name,
        "imgsz": list(imgsz),
        "images": len(validator.dataloader.dataset),
        "box": summary(metrics.box.mean_results()),
        "pose": summary(metrics.pose.mean_results()),
        "per_class": per_class,
    }


def merge_metrics(
    *, model: str, sources: dict[str, Path], quantize_report: Path, dataset_dir: Path, json_path: Path, csv_path: Path
) -> dict:
    """One metrics.json (every source side by side, every quantization candidate's figures, and
    the OKS sigmas every pose figure is built on, with where they came from) and a flat CSV, one
    row per source and part."""
    data = read_data_yaml(dataset_dir)
    merged = {
        "model": model,
        "sources": {source: SOURCE_MEANINGS[source] for source in sources},
        "kpt_oks_sigmas": {"values": data["kpt_oks_sigmas"], **data["posepipe"]["kpt_oks_sigmas"]},
    }
    for source, path in sources.items():
        merged[source] = json.loads(Path(path).read_text())
    report = json.loads(Path(quantize_report).read_text())
    merged["quantization"] = {key: report[key] for key in ("chosen", "gate", "candidates")}
    Path(json_path).write_text(json.dumps(merged, indent=1) + "\n")
    with open(csv_path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["source", "class", "part", *METRIC_NAMES])
        for source in sources:
            result = merged[source]
            for part in ("box", "pose"):
                writer.writerow([source, "all", part, *(result[part][name] for name in METRIC_NAMES)])
            for name, parts in result["per_class"].items():
                for part in ("box", "pose"):
                    writer.writerow([source, name, part, *(parts[part][m] for m in METRIC_NAMES)])
    return merged
