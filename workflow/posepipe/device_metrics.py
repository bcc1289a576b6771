"""The device's figures before anything is flashed: head outputs (the pruned ONNX in
onnxruntime, or a cvimodel in TPU-MLIR's simulator) decoded as the MaixCAM runtime decodes them
(posepipe.decoder), scored with Ultralytics' own matching and AP, and the app's thresholds
chosen on them (posepipe.thresholds)."""

import json
from pathlib import Path

import numpy as np

from posepipe import input_contract
from posepipe import thresholds as th
from posepipe.labels import read_label_file
from posepipe.ultralytics_env import prepare
from posepipe.validate import summary

MAP_CONF_TH = 0.001  # mAP integrates over the confidence: Ultralytics' own validation threshold


def device_inputs(dataset_dir: Path, height: int, width: int):
    """(image path, original size, model input) of every val image, preprocessed as the device does."""
    from posepipe.dataset import val_images
    from posepipe.images import read_rgb

    for path in val_images(dataset_dir):
        image = read_rgb(path)
        yield path, image.shape[:2], input_contract.to_input(input_contract.letterbox(image, height, width))


def _ground_truth(label_file: Path, width: int, height: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Classes, xyxy pixel boxes and (n, K, 3) pixel keypoints of one image's YOLO label file."""
    rows = read_label_file(label_file) if label_file.is_file() else np.zeros((0, 5 + 3 * k))
    rows = rows.reshape(-1, 5 + 3 * k)
    cx, cy, w, h = rows[:, 1] * width, rows[:, 2] * height, rows[:, 3] * width, rows[:, 4] * height
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    keypoints = rows[:, 5:].reshape(-1, k, 3) * np.array([width, height, 1.0])
    return rows[:, 0], boxes, keypoints


def _score_channels(outputs: dict, n: int, class_count: int) -> tuple[int, float]:
    """Score channels the runtime sees (nc + 1 when nc is a multiple of 3, posepipe.prune), and
    the largest value the padded channel took over the images (it must stay 0)."""
    from posepipe import decoder

    channels, padding_max = class_count, 0.0
    for _, head_outputs in outputs.values():
        scores = decoder.split_outputs(head_outputs, n)[1]
        channels = scores.shape[0]
        padding_max = max(padding_max, float(np.abs(scores[class_count:]).max(initial=0.0)))
    return channels, padding_max


def score_decoded(
    dataset_dir: Path, height: int, width: int, outputs: dict[Path, list], source: str, app: dict
) -> tuple[dict, dict[str, dict]]:
    """Box and pose metrics of head outputs decoded as the device decodes them, at every
    keypoint_th of the grid; the app's conf_th and keypoint_th (`app`'s, where the config pins
    them, else the F1-best) with their curves; the headline figures at that keypoint_th. Also
    each val image's scoring stats there (image name -> what posepipe.bootstrap resamples).

    mAP is scored at conf_th 0.001 (it integrates over the thresholds) and the app's iou_th."""
    from posepipe import decoder
    from posepipe.dataset import read_data_yaml

    data = read_data_yaml(dataset_dir)
    names = {int(i): name for i, name in data["names"].items()}
    k = data["kpt_shape"][0]
    truth, val_folder = {}, dataset_dir / "images" / "val"  # labels read once, for every keypoint_th
    for path, (image_size, _) in outputs.items():
        label = dataset_dir / "labels" / "val" / path.relative_to(val_folder).with_suffix(".txt")
        truth[path] = _ground_truth(label, image_size[1], image_size[0], k)
    channels, padding_max = _score_channels(outputs, decoder.anchor_count(height, width), len(names))
    grid = th.with_pinned(th.KEYPOINT_TH_GRID, app["keypoint_th"])
    decoded = {t: _decoded_at(outputs, height, width, app["iou_th"], t) for t in grid}
    scored = {t: _scored(names, k, decoded[t], truth) for t in grid}
    chosen, conf_curve, keypoint_curve = _app_thresholds(decoded[grid[0]], scored[grid[0]][1], truth, app, grid)
    headline, per_image = scored[chosen["keypoint_th"]]
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
        "score_padding": {"channels": channels - len(names), "max_abs": padding_max},
        "imgsz": [int(height), int(width)],
        "images": len(outputs),
        **headline,
        "conf_th_curve": conf_curve,
        "keypoint_th_curve": [{**point, "pose": scored[point["keypoint_th"]][0]["pose"]} for point in keypoint_curve],
    }, {path.relative_to(val_folder).as_posix(): stats for path, stats in per_image.items()}


def _app_thresholds(detections: dict, per_image: dict, truth: dict, app: dict, keypoint_grid: tuple) -> tuple:
    """The app's thresholds (pinned by the config, else F1-best: conf_th first, keypoint_th on
    the detections shown at it), and the two F1 curves."""
    images = sorted(detections)  # the bootstrap's image order, the same for every source
    conf_grid = th.with_pinned(th.CONF_TH_GRID, app["conf_th"])
    conf_curve = th.f1_curve(th.detection_counts([per_image[p] for p in images], conf_grid), conf_grid, "conf_th")
    conf_th = app["conf_th"] if app["conf_th"] is not None else th.best_on(conf_curve, "conf_th")
    matched = [th.matched_keypoints(detections[p], truth[p], conf_th) for p in images]
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


def _decoded_at(outputs: dict, height: int, width: int, iou_th: float, keypoint_th: float) -> dict[Path, list]:
    from posepipe import decoder

    return {
        path: decoder.decode(
            head_outputs, (height, width), image_size, conf_th=MAP_CONF_TH, iou_th=iou_th, keypoint_th=keypoint_th
        )
        for path, (image_size, head_outputs) in outputs.items()
    }


def _scored(names: dict, k: int, decoded: dict, truth: dict) -> tuple[dict, dict[Path, dict]]:
    """Ultralytics' box and pose metrics of the decoded detections; and each image's stats."""
    import torch
    from ultralytics.models.yolo.pose import PoseValidator
    from ultralytics.utils.metrics import OKS_SIGMA, PoseMetrics

    matcher = PoseValidator(args=dict(task="pose", mode="val", plots=False))
    matcher.sigma = OKS_SIGMA if [k, 3] == [17, 3] else np.ones(k) / k
    metrics, per_image = PoseMetrics(names=names), {}
    for path, detections in decoded.items():
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
        "box": summary(metrics.box.mean_results()),
        "pose": summary(metrics.pose.mean_results()),
        "per_class": {
            names[int(class_id)]: {
                "box": summary(metrics.box.class_result(index)),
                "pose": summary(metrics.pose.class_result(index)),
            }
            for index, class_id in enumerate(metrics.ap_class_index)
        },
    }, per_image


def evaluate_device_decoder(*, pruned_onnx: Path, dataset_dir: Path, app: dict, config_dir: Path) -> tuple[dict, dict]:
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
    return score_decoded(dataset_dir, height, width, outputs, Path(pruned_onnx).name, app)


def evaluate_simulated(
    *, outputs_dir: Path, dataset_dir: Path, imgsz: list[int], cvimodel_name: str, app: dict, config_dir: Path
) -> tuple[dict, dict]:
    """A cvimodel's outputs from TPU-MLIR's host simulator on the val images (quantize.simulate),
    decoded and scored as on the device: the accuracy the device will have, known before
    anything is flashed; and the per-image stats (score_decoded)."""
    prepare(config_dir)
    outputs = {}
    for entry in json.loads((Path(outputs_dir) / "index.json").read_text()):
        with np.load(Path(outputs_dir) / entry["outputs"]) as result:
            outputs[Path(dataset_dir) / entry["image"]] = (tuple(entry["size"]), [result[n] for n in result.files])
    return score_decoded(Path(dataset_dir), imgsz[0], imgsz[1], outputs, cvimodel_name, app)
