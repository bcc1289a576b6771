"""Validation metrics of a trained or exported model, and the metrics table they end up in.

Every model is validated at the deployment input size (height x width), letterboxed, with
`rect=False`: that is what an exported ONNX sees, so the .pt and ONNX figures compare like
with like. (Ultralytics validates a .pt at a square size by default.)
"""

import csv
import json
from pathlib import Path

import numpy as np

from posepipe.dataset import runtime_data_yaml
from posepipe.labels import read_label_file
from posepipe.ultralytics_env import prepare, run_folder

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


def _summary(values: tuple) -> dict[str, float]:
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
        device=device,
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
            "box": _summary(metrics.box.class_result(index)),
            "pose": _summary(metrics.pose.class_result(index)),
        }
    return {
        "weights": Path(weights).name,
        "imgsz": list(imgsz),
        "images": len(validator.dataloader.dataset),
        "box": _summary(metrics.box.mean_results()),
        "pose": _summary(metrics.pose.mean_results()),
        "per_class": per_class,
    }


def merge_metrics(
    *, model: str, sources: dict[str, Path], quantize_report: Path, json_path: Path, csv_path: Path
) -> dict:
    """One metrics.json (every source side by side, and every quantization candidate's figures)
    and a flat CSV, one row per source and part."""
    merged = {"model": model}
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


def _ground_truth(label_file: Path, width: int, height: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Classes, xyxy pixel boxes and (n, K, 3) pixel keypoints of one image's YOLO label file."""
    rows = read_label_file(label_file) if label_file.is_file() else np.zeros((0, 5 + 3 * k))
    rows = rows.reshape(-1, 5 + 3 * k)
    cx, cy, w, h = rows[:, 1] * width, rows[:, 2] * height, rows[:, 3] * width, rows[:, 4] * height
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    keypoints = rows[:, 5:].reshape(-1, k, 3) * np.array([width, height, 1.0])
    return rows[:, 0], boxes, keypoints


DECODER_SETTINGS = {"conf_th": 0.001, "iou_th": 0.45}
# keypoint_th decides which keypoints the device reports at all: a point it drops costs its
# OKS, a point it keeps at low visibility costs little, so the figure depends on it (MaixPy's
# examples use 0.5). Each is measured; the headline is the best, which the app then uses.
KEYPOINT_TH_GRID = (0.0, 0.1, 0.25, 0.4, 0.5, 0.6, 0.75)


def device_inputs(dataset_dir: Path, height: int, width: int):
    """(image path, original size, model input) of every val image, preprocessed as the device does."""
    from posepipe import decoder
    from posepipe.dataset import val_images
    from posepipe.images import read_rgb

    for path in val_images(dataset_dir):
        image = read_rgb(path)
        yield path, image.shape[:2], decoder.to_input(decoder.letterbox(image, height, width))


def score_decoded(
    dataset_dir: Path, height: int, width: int, outputs: dict[Path, list], source: str
) -> tuple[dict, dict[str, dict]]:
    """Box and pose metrics of head outputs decoded as the MaixCAM runtime decodes them, for
    every keypoint_th of KEYPOINT_TH_GRID; the headline figures are those of the best one (by
    pose mAP50-95, the lowest threshold on a tie), and state it. Also each val image's scoring
    stats at that threshold (image name -> what posepipe.bootstrap resamples).

    Predictions come from `posepipe.decoder` (black letterbox, int boxes, per-class NMS on ints,
    keypoints under keypoint_th reported as dropped), in the original image's pixels; matching
    and AP are Ultralytics' own, so the figures sit beside Ultralytics' like for like. conf_th is
    low (0.001, as in Ultralytics' validation) because mAP integrates over the thresholds."""
    from posepipe import decoder
    from posepipe.dataset import read_data_yaml

    data = read_data_yaml(dataset_dir)
    names = {int(i): name for i, name in data["names"].items()}
    k = data["kpt_shape"][0]
    truth, val_folder = {}, dataset_dir / "images" / "val"  # labels read once, for every keypoint_th
    for path, (image_size, _) in outputs.items():
        label = dataset_dir / "labels" / "val" / path.relative_to(val_folder).with_suffix(".txt")
        truth[path] = _ground_truth(label, image_size[1], image_size[0], k)
    n = decoder.anchor_count(height, width)
    channels, padding_max = len(names), 0.0
    for _, head_outputs in outputs.values():
        scores = decoder.split_outputs(head_outputs, n)[1]
        channels = scores.shape[0]  # nc, or nc + the zero channel padded in by the prune step
        padding_max = max(padding_max, float(np.abs(scores[len(names) :]).max(initial=0.0)))
    scored = {th: _score_at(names, k, height, width, outputs, truth, th) for th in KEYPOINT_TH_GRID}
    curve = {th: figures for th, (figures, _) in scored.items()}
    best = max(KEYPOINT_TH_GRID, key=lambda th: (curve[th]["pose"]["mAP50-95"], -th))
    return {
        "weights": source,
        "decoder": {**DECODER_SETTINGS, "keypoint_th": best, "padding": "black"},
        # score channels the runtime sees: nc + 1 when nc is a multiple of 3 (posepipe.prune), and
        # the largest value the padded channel took over the images (it must stay 0)
        "score_channels": channels,
        "score_padding": {"channels": channels - len(names), "max_abs": padding_max},
        "imgsz": [int(height), int(width)],
        "images": len(outputs),
        **curve[best],
        "keypoint_th_curve": [{"keypoint_th": th, "pose": curve[th]["pose"]} for th in KEYPOINT_TH_GRID],
    }, {path.relative_to(val_folder).as_posix(): stats for path, stats in scored[best][1].items()}


def _score_at(
    names: dict, k: int, height: int, width: int, outputs: dict, truth: dict, keypoint_th: float
) -> tuple[dict, dict[str, dict]]:
    import torch
    from ultralytics.models.yolo.pose import PoseValidator
    from ultralytics.utils.metrics import OKS_SIGMA, PoseMetrics

    from posepipe import decoder

    matcher = PoseValidator(args=dict(task="pose", mode="val", plots=False))
    matcher.sigma = OKS_SIGMA if [k, 3] == [17, 3] else np.ones(k) / k
    metrics, per_image = PoseMetrics(names=names), {}
    for path, (image_size, head_outputs) in outputs.items():
        detections = decoder.decode(
            head_outputs, (height, width), image_size, **DECODER_SETTINGS, keypoint_th=keypoint_th
        )
        gt_cls, gt_boxes, gt_keypoints = truth[path]
        preds = {
            "bboxes": torch.tensor([d.box_xyxy for d in detections], dtype=torch.float32).reshape(-1, 4),
            "cls": torch.tensor([d.class_id for d in detections], dtype=torch.float32),
            "conf": torch.tensor([d.score for d in detections], dtype=torch.float32),
            "keypoints": torch.tensor(np.array([d.points for d in detections], dtype=np.float32)).reshape(-1, k, 2),
        }
        batch = {
            "bboxes": torch.tensor(gt_boxes, dtype=torch.float32),
            "cls": torch.tensor(gt_cls, dtype=torch.float32),
            "keypoints": torch.tensor(gt_keypoints, dtype=torch.float32),
        }
        stats = {
            **matcher._process_batch(preds, batch),
            "target_cls": gt_cls,
            "target_img": np.unique(gt_cls),
            "conf": preds["conf"].numpy(),
            "pred_cls": preds["cls"].numpy(),
            "im_name": path.name,
        }
        metrics.update_stats(stats)
        per_image[path] = stats
    metrics.process()
    return {
        "box": _summary(metrics.box.mean_results()),
        "pose": _summary(metrics.pose.mean_results()),
        "per_class": {
            names[int(class_id)]: {
                "box": _summary(metrics.box.class_result(index)),
                "pose": _summary(metrics.pose.class_result(index)),
            }
            for index, class_id in enumerate(metrics.ap_class_index)
        },
    }, per_image


def evaluate_device_decoder(*, pruned_onnx: Path, dataset_dir: Path, config_dir: Path) -> tuple[dict, dict]:
    """The pruned ONNX in float through onnxruntime, decoded and scored as on the device; and the
    per-image stats (score_decoded)."""
    prepare(config_dir)
    import onnxruntime

    session = onnxruntime.InferenceSession(str(pruned_onnx), providers=["CPUExecutionProvider"])
    height, width = session.get_inputs()[0].shape[2:]
    names = [o.name for o in session.get_outputs()]
    outputs = {
        path: (size, session.run(names, {"images": array}))
        for path, size, array in device_inputs(dataset_dir, height, width)
    }
    return score_decoded(dataset_dir, height, width, outputs, Path(pruned_onnx).name)


def evaluate_simulated(
    *, outputs_dir: Path, dataset_dir: Path, imgsz: list[int], cvimodel_name: str, config_dir: Path
) -> tuple[dict, dict]:
    """A cvimodel's outputs from TPU-MLIR's host simulator on the val images (quantize.simulate),
    decoded and scored as on the device: the accuracy the device will have, known before
    anything is flashed; and the per-image stats (score_decoded)."""
    prepare(config_dir)
    outputs = {}
    for entry in json.loads((Path(outputs_dir) / "index.json").read_text()):
        with np.load(Path(outputs_dir) / entry["outputs"]) as result:
            outputs[Path(dataset_dir) / entry["image"]] = (tuple(entry["size"]), [result[n] for n in result.files])
    return score_decoded(Path(dataset_dir), imgsz[0], imgsz[1], outputs, cvimodel_name)
