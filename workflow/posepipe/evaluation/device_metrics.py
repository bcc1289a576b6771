"""The device's figures before anything is flashed: head outputs (the pruned ONNX in
onnxruntime, or a cvimodel in TPU-MLIR's simulator) decoded as the MaixCAM runtime decodes them
(posepipe.device.decoder), scored with Ultralytics' own matching and AP, and the app's thresholds
chosen on them (posepipe.evaluation.thresholds)."""

import json
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from posepipe.dataset.data_yaml import read_data_yaml
from posepipe.dataset.label_text import read_label_file
from posepipe.dataset.val_inputs import device_inputs
from posepipe.device import decoder
from posepipe.evaluation import keypoints as kp
from posepipe.evaluation import thresholds as th
from posepipe.evaluation.bootstrap import central_interval, joined_image_stats, pose_maps, resample_draws
from posepipe.training.ultralytics_env import prepare
from posepipe.training.validate import summary

MAP_CONF_TH = 0.001  # mAP integrates over the confidence: Ultralytics' own validation threshold


def _ground_truth(label_file: Path, width: int, height: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Classes, xyxy pixel boxes and (n, K, 3) pixel keypoints of one image's YOLO label file."""
    rows = read_label_file(label_file) if label_file.is_file() else np.zeros((0, 5 + 3 * k))
    rows = rows.reshape(-1, 5 + 3 * k)
    cx, cy, w, h = rows[:, 1] * width, rows[:, 2] * height, rows[:, 3] * width, rows[:, 4] * height
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    keypoints = rows[:, 5:].reshape(-1, k, 3) * np.array([width, height, 1.0])
    return rows[:, 0], boxes, keypoints


@dataclass
class ImageScore:
    """All the scoring keeps of one val image: its head outputs are dropped once decoded, so
    memory grows with the detections, not with the outputs."""

    path: Path  # below the val images' folder
    truth: tuple  # _ground_truth
    detections: list  # decoded at the grid's first keypoint_th: what the F1 curves take
    stats: dict  # keypoint_th -> Ultralytics' matching stats of the detections decoded at it
    score_channels: int  # what the runtime sees (nc + 1 when nc is a multiple of 3, posepipe.training.prune)
    padding_max: float  # the largest value of the padded score channel (it must stay 0)


def scored_images(images, dataset_dir: Path, height: int, width: int, app: dict):
    """ImageScore of each (path, original size, head outputs) of `images`, one image at a time,
    decoded as the device decodes at every keypoint_th of the grid."""
    names, keypoint_names, sigmas = _dataset(dataset_dir)
    k = len(keypoint_names)
    grid = th.with_pinned(th.KEYPOINT_TH_GRID, app["keypoint_th"])
    matcher = _matcher(sigmas)
    anchors, val_folder = decoder.anchor_count(height, width), Path(dataset_dir) / "images" / "val"
    for path, image_size, head_outputs in images:
        label = Path(dataset_dir) / "labels" / "val" / path.relative_to(val_folder).with_suffix(".txt")
        truth = _ground_truth(label, image_size[1], image_size[0], k)
        scores = decoder.split_outputs(head_outputs, anchors)[1]
        decoded = {
            t: decoder.decode(
                head_outputs, (height, width), image_size, conf_th=MAP_CONF_TH, iou_th=app["iou_th"], keypoint_th=t
            )
            for t in grid
        }
        yield ImageScore(
            path.relative_to(val_folder),
            truth,
            decoded[grid[0]],
            {t: _matched(matcher, detections, truth, k, path.name) for t, detections in decoded.items()},
            scores.shape[0],
            float(np.abs(scores[len(names) :]).max(initial=0.0)),
        )


def _matcher(sigmas: np.ndarray):
    """Ultralytics' PoseValidator for its matching alone (_process_batch: box IoU, keypoint OKS,
    match_predictions), with the IoU thresholds its DetectionValidator sets. Built without its
    constructor, which imports torchvision (1.7 s of every scoring process) to time a validation
    loop that never runs here."""
    import torch
    from ultralytics.models.yolo.pose import PoseValidator

    matcher = PoseValidator.__new__(PoseValidator)
    matcher.iouv = torch.linspace(0.5, 0.95, 10)
    matcher.niou = matcher.iouv.numel()
    matcher.sigma = sigmas
    return matcher


def _dataset(dataset_dir: Path) -> tuple[dict[int, str], list[str], np.ndarray]:
    """The classes, the keypoint names, and the OKS sigmas as Ultralytics' own validation reads
    them from the same data.yaml (dataset.oks_sigmas)."""
    data = read_data_yaml(Path(dataset_dir))
    sigmas = np.array(data["kpt_oks_sigmas"], dtype=np.float32)
    return {int(i): name for i, name in data["names"].items()}, data["kpt_names"][0], sigmas


def _matched(matcher, detections: list, truth: tuple, k: int, name: str) -> dict:
    """Ultralytics' matching of one image's detections with its objects: what PoseMetrics and
    posepipe.evaluation.bootstrap take."""
    import torch

    gt_cls, gt_boxes, gt_keypoints = truth
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
    return {
        **matcher._process_batch(preds, batch),
        "target_cls": gt_cls,
        "target_img": np.unique(gt_cls),
        "conf": preds["conf"].numpy(),
        "pred_cls": preds["cls"].numpy(),
        "im_name": name,
    }


def score_decoded(
    dataset_dir: Path, height: int, width: int, images: list[ImageScore], source: str, app: dict
) -> tuple[dict, dict[str, dict]]:
    """Box and pose metrics of the val images' scores (scored_images, in val image order), at
    every keypoint_th of the grid; the app's conf_th and keypoint_th (`app`'s, where the config
    pins them, else the F1-best) with their curves; the headline figures at that keypoint_th.
    Also each val image's scoring stats there (image name -> what posepipe.evaluation.bootstrap resamples).

    mAP is scored at conf_th 0.001 (it integrates over the thresholds) and the app's iou_th."""
    names, keypoint_names, _ = _dataset(dataset_dir)
    grid = th.with_pinned(th.KEYPOINT_TH_GRID, app["keypoint_th"])
    scored = {t: _metrics(names, [image.stats[t] for image in images]) for t in grid}
    chosen, conf_curve, keypoint_curve = _app_thresholds(images, grid, app)
    channels = images[-1].score_channels if images else len(names)
    per_image = {
        image.path.as_posix(): {
            **image.stats[chosen["keypoint_th"]],
            **kp.object_keypoints(image.detections, image.truth, chosen["conf_th"], chosen["keypoint_th"]),
        }
        for image in images
    }
    joined, draws = joined_image_stats(per_image), resample_draws(len(images))
    low, high = central_interval(pose_maps(joined, draws)) if images else (0.0, 0.0)
    return {
        "weights": source,
        "decoder": {
            "conf_th": MAP_CONF_TH,
            "iou_th": app["iou_th"],
            "keypoint_th": chosen["keypoint_th"],
            "padding": "black",
        },
        "thresholds": chosen,
        "score_channels": channels,
        "score_padding": {
            "channels": channels - len(names),
            "max_abs": max((image.padding_max for image in images), default=0.0),
        },
        "imgsz": [int(height), int(width)],
        "images": len(images),
        **scored[chosen["keypoint_th"]],
        "pose_mAP50-95_interval": [round(float(low), 6), round(float(high), 6)],
        "conf_th_curve": conf_curve,
        "keypoint_th_curve": [{**point, "pose": scored[point["keypoint_th"]]["pose"]} for point in keypoint_curve],
        "keypoints": {
            "size": "the square root of the labelled box's area",
            "per_keypoint": kp.keypoint_table(joined, keypoint_names, draws),
        },
    }, per_image


def _app_thresholds(images: list[ImageScore], keypoint_grid: tuple, app: dict) -> tuple:
    """The app's thresholds (pinned by the config, else F1-best: conf_th first, keypoint_th on
    the detections shown at it), and the two F1 curves."""
    ordered = sorted(images, key=lambda image: image.path)  # the bootstrap's image order, the same for every source
    first = keypoint_grid[0]
    conf_grid = th.with_pinned(th.CONF_TH_GRID, app["conf_th"])
    conf_curve = th.f1_curve(th.detection_counts([i.stats[first] for i in ordered], conf_grid), conf_grid, "conf_th")
    conf_th = app["conf_th"] if app["conf_th"] is not None else th.best_on(conf_curve, "conf_th")
    matched = [th.matched_keypoints(image.detections, image.truth, conf_th) for image in ordered]
    keypoint_curve = th.f1_curve(th.keypoint_counts(matched, keypoint_grid), keypoint_grid, "keypoint_th")
    keypoint_th = app["keypoint_th"] if app["keypoint_th"] is not None else th.best_on(keypoint_curve, "keypoint_th")

    def origin(key: str) -> str:
        return "the F1-best on the val images" if app[key] is None else "the config"

    chosen = {
        "conf_th": float(conf_th),
        "conf_th_from": origin("conf_th"),
        "detection_f1": next(p["f1"] for p in conf_curve if p["conf_th"] == conf_th),
        "iou_th": app["iou_th"],
        "keypoint_th": float(keypoint_th),
        "keypoint_th_from": origin("keypoint_th"),
        "keypoint_f1": next(p["f1"] for p in keypoint_curve if p["keypoint_th"] == keypoint_th),
    }
    return chosen, conf_curve, keypoint_curve


def _metrics(names: dict, per_image: list[dict]) -> dict:
    """Ultralytics' box and pose metrics, overall and per class, of the images' matching stats."""
    from ultralytics.utils.metrics import PoseMetrics

    metrics = PoseMetrics(names=names)
    for stats in per_image:
        metrics.update_stats(stats)
    metrics.process()
    return {
        "box": summary(metrics.box.mean_results()),
        "pose": summary(metrics.pose.mean_results()),
        "per_class": {
            names[int(class_id)]: {
                "box": summary(metrics.box.class_result(index)),
                "pose": summary(metrics.pose.class_result(index)),
            }
            for index, class_id in enumerate(metrics.ap_class_index)
        },
    }


def evaluate_device_decoder(*, pruned_onnx: Path, dataset_dir: Path, app: dict, config_dir: Path) -> tuple[dict, dict]:
    """The pruned ONNX in float through onnxruntime, decoded and scored as on the device; and the
    per-image stats (score_decoded)."""
    prepare(config_dir)
    import onnxruntime

    session = onnxruntime.InferenceSession(str(pruned_onnx), providers=["CPUExecutionProvider"])
    height, width = session.get_inputs()[0].shape[2:]
    names = [o.name for o in session.get_outputs()]
    outputs = (
        (path, size, session.run(names, {"images": array}))
        for path, size, array in device_inputs(dataset_dir, height, width)
    )
    images = list(scored_images(outputs, dataset_dir, height, width, app))
    return score_decoded(dataset_dir, height, width, images, Path(pruned_onnx).name, app)


def simulated_outputs(outputs_dir: Path, dataset_dir: Path):
    """(image path, original size, head outputs) of each image of one shard of quantize.simulate,
    read one at a time."""
    for entry in json.loads((Path(outputs_dir) / "index.json").read_text()):
        with np.load(Path(outputs_dir) / entry["outputs"]) as result:
            yield Path(dataset_dir) / entry["image"], tuple(entry["size"]), [result[n] for n in result.files]


def score_shard(*, outputs_dir: Path, dataset_dir: Path, imgsz: list[int], app: dict, config_dir: Path, out: Path):
    """One shard of a cvimodel's simulator outputs, decoded as on the device and matched with
    the ground truth: its images' ImageScores in `out` (a pickle, read by evaluate_simulated)."""
    prepare(config_dir)
    images = list(scored_images(simulated_outputs(outputs_dir, dataset_dir), dataset_dir, imgsz[0], imgsz[1], app))
    Path(out).write_bytes(pickle.dumps(images, protocol=5))
    return f"{len(images)} val images scored"


def evaluate_simulated(
    *, shard_scores: list[Path], dataset_dir: Path, imgsz: list[int], cvimodel_name: str, app: dict, config_dir: Path
) -> tuple[dict, dict]:
    """A cvimodel's scored shards (score_shard, in shard order) summed up as on the device: the
    accuracy the device will have, known before anything is flashed; and the per-image stats
    (score_decoded). The same, byte for byte, whatever the number of shards."""
    prepare(config_dir)
    images = [image for path in shard_scores for image in pickle.loads(Path(path).read_bytes())]
    return score_decoded(Path(dataset_dir), imgsz[0], imgsz[1], images, cvimodel_name, app)
