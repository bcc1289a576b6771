"""The MaixCAM runtime's post-processing (posepipe.device.decoder) against Ultralytics: on the pruned
ONNX of the trained small model, in float and with the device's integer rules, and through to
the package and the app for class counts the runtime could misread."""

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from posepipe.dataset.images import read_rgb
from posepipe.device import decoder, input_contract
from support.checks import IOU_TH, box_iou, device_reference, write_json
from support.paths import POSEPIPE_VERSION
from support.runs import run_snakemake, small_model_config


@pytest.fixture(scope="module")
def pruned_small(trained) -> Path:
    run_snakemake(trained, small_model_config(), "results/small/small_pruned.onnx")
    return trained / "results" / "small"


def ultralytics_predictions(weights: Path, letterboxed: np.ndarray, conf: float):
    """Ultralytics' predict on the .pt: xyxy boxes, scores, classes, keypoints after its own NMS."""
    from ultralytics import YOLO

    height, width = letterboxed.shape[:2]
    result = YOLO(str(weights)).predict(
        letterboxed[..., ::-1].copy(), imgsz=[height, width], conf=conf, iou=IOU_TH, verbose=False, device="cpu"
    )[0]
    boxes = result.boxes
    return boxes.xyxy.numpy(), boxes.conf.numpy(), boxes.cls.numpy().astype(int), result.keypoints.xy.numpy()


def float_decisions_fragile(output0: np.ndarray, conf: float, nc: int) -> bool:
    """Whether Ultralytics (torch) and the decoder (ONNX Runtime) could decide differently in
    float: a score within 1e-4 of `conf`, or two candidates within 0.01 IoU of the NMS threshold."""
    head = output0[0]
    scores = head[4 : 4 + nc].max(axis=0)
    if (np.abs(scores - conf) < 1e-4).any():
        return True
    cx, cy, w, h = head[:4, scores > conf - 1e-4].astype(np.float64)
    x1, y1, x2, y2 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
    inter = np.clip(np.minimum(x2[:, None], x2) - np.maximum(x1[:, None], x1), 0, None) * np.clip(
        np.minimum(y2[:, None], y2) - np.maximum(y1[:, None], y1), 0, None
    )
    iou = inter / (w * h + (w * h)[:, None] - inter)
    np.fill_diagonal(iou, 0)
    return bool((np.abs(iou - IOU_TH) < 0.01).any())


def below_the_best_score(output0: np.ndarray, nc: int, conf: float) -> float:
    """`conf`, or just under the image's best score where that is lower: every image then has
    a detection to compare, whatever the weights score it."""
    return min(conf, float(output0[0, 4 : 4 + nc].max()) - 1e-3)


def assert_decoder_matches_ultralytics(model_dir: Path, image_paths: list[Path], conf: float) -> int:
    """The decoder on the pruned ONNX against Ultralytics on the same letterboxed input, at
    `conf` or, on an image the weights score lower, just under its best score.

    In float, against predict on the .pt: the same detections above `conf` (class, score, box
    IoU >= 0.98), kept keypoints within 2 px. As the device decodes (int truncation), against
    the device's integer rules applied to Ultralytics' own output0 (`device_reference`): the
    same int boxes (1 px: truncation of floats that agree to 1e-4), scores and classes. Count
    equality is asserted only where no decision is fragile. Returns the number of detections
    compared, float and integer: a detection skipped as fragile is not counted."""
    import onnxruntime

    def session(path: Path):
        return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    model = model_dir.name
    description = json.loads((model_dir / f"{model}_pruned.json").read_text())
    nc, size = description["num_classes"], tuple(description["input"]["shape"][2:])
    pruned, full = session(model_dir / f"{model}_pruned.onnx"), session(model_dir / f"{model}.onnx")
    names = [o.name for o in pruned.get_outputs()]
    compared = 0
    for path in image_paths:
        letterboxed = input_contract.letterbox(read_rgb(path), *size)
        model_input = {"images": input_contract.to_input(letterboxed)}
        outputs = pruned.run(names, model_input)
        (output0,) = full.run(["output0"], model_input)
        conf = below_the_best_score(output0, nc, conf)
        boxes, scores, classes, keypoints = ultralytics_predictions(model_dir / "train" / "best.pt", letterboxed, conf)

        ours = decoder.decode(outputs, size, conf_th=conf, iou_th=IOU_TH, keypoint_th=0.5, integer=False)
        fragile = float_decisions_fragile(output0, conf, nc)
        if not fragile:
            assert len(ours) == len(boxes), f"{path.name}: {len(ours)} detections, Ultralytics {len(boxes)}"
        for detection in ours:
            # the same class, box and score (boxes clipped to the input may coincide: the score tells them apart)
            same = [
                (box_iou(detection.box_xyxy, box), j)
                for j, box in enumerate(boxes)
                if abs(detection.score - scores[j]) < 1e-3 and classes[j] == detection.class_id
            ]
            iou, match = max(same, default=(0.0, -1))
            if fragile and iou < 0.98:
                continue  # a decision at a threshold that the two runtimes' last bits may tip
            assert iou >= 0.98, f"{path.name}: no Ultralytics box of score {detection.score:.4f} (IoU {iou:.3f})"
            compared += 1
            points = np.reshape(detection.points, (-1, 2))
            # kept by the keypoint threshold, and inside the input (Ultralytics clips, the device does not)
            inside = (points >= 0).all(axis=1) & (points[:, 0] <= size[1]) & (points[:, 1] <= size[0])
            compare = np.array(detection.kept, dtype=bool) & inside
            if compare.any():
                off = np.abs(points[compare] - keypoints[match][compare]).max()
                assert off <= 2, f"{path.name}: keypoints {off:.1f} px off"

        integer = decoder.decode(outputs, size, conf_th=conf, iou_th=IOU_TH, keypoint_th=0.5, integer=True)
        kept, candidates, fragile = device_reference(output0, conf, nc, size)
        if not fragile:
            assert len(integer) == len(kept), f"{path.name}: {len(integer)} int detections, reference {len(kept)}"
        for detection in integer:  # a fragile image: at least every detection is a reference candidate
            pool = candidates if fragile else kept
            box = (detection.x, detection.y, detection.w, detection.h)
            same = [
                r
                for r in pool
                if max(abs(a - b) for a, b in zip(box, r[:4])) <= 1
                and abs(r[4] - detection.score) < 1e-3
                and r[5] == detection.class_id
            ]
            assert same, f"{path.name}: int box {box} of score {detection.score:.4f} is not in the reference"
            compared += not fragile  # a fragile image's detection is only found among the candidates
    return compared


def test_decoder_matches_ultralytics_on_demo_images(pruned_small, trained):
    images = sorted((trained / "results" / "datasets" / "demo" / "images" / "val").glob("*.jpg"))
    # each image has a detection 1e-3 above its threshold (below_the_best_score): only a rare
    # fragile decision skips one, so at least half of the images compare one, for any weights
    assert len(images) == 16 and assert_decoder_matches_ultralytics(pruned_small, images, conf=0.1) >= 8


def test_decoder_matches_ultralytics_on_real_photos(pruned_small, coco_real):
    images = sorted(coco_real.glob("*.jpg"))
    # a model trained on synthetic figures scores real photos low, often in near ties that make an
    # image's decisions fragile (skipped): each is compared at just under its best score, and one
    # robust detection is all that other weights can be counted on for
    assert assert_decoder_matches_ultralytics(pruned_small, images, conf=0.01) > 0


def multi_class_config(workdir: Path, classes: int) -> dict:
    """The small model's config on the demo figures, with `classes` categories of which the
    figures are the first: the shapes, the padding and the decoding are those of any
    `classes`-class model. One INT8 recipe ships whatever its one-image similarity, which the
    scores of classes never seen (near zero, flattened by INT8) may miss."""
    config = small_model_config()
    config["quantize"].update(calibration_images=8, recipes=[{"name": "int8"}], if_none_within_gate="most_accurate")
    run_snakemake(workdir, config, "results/demo/annotations/train.json", "results/demo/annotations/val.json")
    for split in ("train", "val"):
        coco = json.loads((workdir / "results" / "demo" / "annotations" / f"{split}.json").read_text())
        keypoints = coco["categories"][0]["keypoints"]
        coco["categories"] = [{"id": c + 1, "name": f"kind {c + 1}", "keypoints": keypoints} for c in range(classes)]
        write_json(workdir / "multi" / f"{split}.json", coco)
    config["datasets"]["multi"] = {
        split: {"annotations": f"multi/{split}.json", "images": f"results/demo/images/{split}"}
        for split in ("train", "val")
    }
    config["models"] = {"multi": {**config["models"]["small"], "dataset": "multi"}}
    return config


@pytest.mark.slow
def test_a_model_of_a_multiple_of_3_classes_reaches_the_package_and_the_app(tmp_path):
    # one trained model (minutes); test_prune checks the padded graph for 3 and for 6 classes
    classes = 3
    config = multi_class_config(tmp_path, classes)
    run_snakemake(tmp_path, config, "maixtool_venv")  # shared, built once per machine
    run_snakemake(tmp_path, config, "results/multi.mud", "results/multi_app")
    results = tmp_path / "results"
    description = json.loads((results / "multi" / "multi_pruned.json").read_text())
    assert description["num_classes"] == classes and description["score_padding"] == 1
    metrics = json.loads((results / "multi" / "metrics.json").read_text())
    for source in ("device_float", "cvimodel"):  # the shipped cvimodel in TPU-MLIR's simulator
        assert metrics[source]["score_channels"] == classes + 1, source
        assert metrics[source]["score_padding"] == {"channels": 1, "max_abs": 0.0}, source
        assert set(metrics[source]["box"]) == {"precision", "recall", "mAP50", "mAP50-95"}
    labels = [f"kind {c + 1}" for c in range(classes)] + ["(padding)"]
    assert f"labels = {', '.join(labels)}" in (results / "multi.mud").read_text()
    assert (results / "multi_labels.txt").read_text().splitlines() == labels
    with zipfile.ZipFile(results / "multi_app" / "dist" / f"posepipe_multi_v{POSEPIPE_VERSION}.zip") as app:
        assert app.read("posepipe_multi/multi.mud") == (results / "multi.mud").read_bytes()
    images = sorted((results / "datasets" / "multi" / "images" / "val").glob("*.jpg"))
    assert assert_decoder_matches_ultralytics(results / "multi", images, conf=0.1) > 0
