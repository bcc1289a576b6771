"""The pruned ONNX: discovery by role, the numerical check, the guard, and decoder parity."""

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import run_snakemake, small_model_config
from posepipe import decoder
from posepipe.errors import PosepipeError
from posepipe.prune import check_cut, prune, read_rgb

HEIGHT, WIDTH = 64, 96
N = decoder.anchor_count(HEIGHT, WIDTH)


@pytest.fixture(scope="module", params=["yolov8n-pose.yaml", "yolo11n-pose.yaml"])
def untrained_export(request, tmp_path_factory) -> Path:
    """An ONNX export of a model built from its YAML (random weights; nothing downloaded)."""
    from ultralytics import YOLO

    work = tmp_path_factory.mktemp(request.param.split(".")[0])
    model = YOLO(request.param)
    model.save(str(work / "model.pt"))
    return Path(YOLO(str(work / "model.pt")).export(format="onnx", imgsz=[HEIGHT, WIDTH], opset=17, simplify=True))


@pytest.fixture
def check_image(demo_data) -> Path:
    return sorted(demo_data["val"]["images"].glob("*.jpg"))[0]


def test_discovery_by_role(untrained_export, check_image, tmp_path):
    description = prune(untrained_export, tmp_path / "cut.onnx", tmp_path / "cut.json", check_image, None)
    outputs = {o["role"]: o for o in description["outputs"]}
    assert outputs["dfl"]["shape"] == [1, 1, 4, N]
    assert outputs["scores"]["shape"] == [1, description["num_classes"], N]
    assert outputs["keypoints"]["shape"] == [1, 51, N]
    layer = "/model.22/" if "v8" in untrained_export.parent.name else "/model.23/"
    assert outputs["keypoints"]["name"] == f"{layer}Concat_2_output_0"  # not the box logits, Concat_output_0
    assert outputs["dfl"]["name"] == f"{layer}dfl/conv/Conv_output_0"
    assert description["found_by"] == "role"
    assert json.loads((tmp_path / "cut.json").read_text()) == description
    cut = onnx.load(str(tmp_path / "cut.onnx"))
    onnx.checker.check_model(cut)
    assert [o.name for o in cut.graph.output] == [outputs[r]["name"] for r in ("dfl", "scores", "keypoints")]
    assert description["check"]["max_abs_diff_outputs"] <= 1e-5
    assert description["check"]["max_abs_diff_output0"] <= 1e-3


def test_the_documented_maixpy_names_are_refused(untrained_export, check_image, tmp_path):
    """MaixPy's docs name Concat_output_0 as the keypoints: in Ultralytics 8.4 it is the box logits."""
    layer = "/model.22/" if "v8" in untrained_export.parent.name else "/model.23/"
    documented = {
        "dfl": f"{layer}dfl/conv/Conv_output_0",
        "scores": f"{layer}Sigmoid_output_0",
        "keypoints": f"{layer}Concat_output_0",
    }
    with pytest.raises(PosepipeError, match=rf"keypoints output '{layer}Concat_output_0' has shape \[1, 64, {N}\]"):
        prune(untrained_export, tmp_path / "cut.onnx", tmp_path / "cut.json", check_image, documented)
    assert not (tmp_path / "cut.onnx").exists()


def test_numerical_check_fails_on_a_wrong_tensor(untrained_export, check_image):
    """Swap in a tensor of the right shape but the wrong role: the output0 check catches it."""
    from posepipe.prune import discover, read_head

    full = onnx.load(str(untrained_export))
    head = read_head(full, untrained_export)
    names = discover(full, head, untrained_export)
    # the pre-sigmoid class logits have the scores' shape but are not what the device reads
    logits = names["scores"].replace("Sigmoid_output_0", "Concat_1_output_0")
    wrong = {**names, "scores": logits}
    cut = onnx.utils.Extractor(full).extract_model(["images"], list(wrong.values()))
    with pytest.raises(PosepipeError, match="differs from the full model's output0"):
        check_cut(full, cut, wrong, head, read_rgb(check_image))


@pytest.mark.parametrize(
    ("key", "value", "fault"),
    [
        ("names", "{0: 'a', 1: 'b', 2: 'c'}", "3 classes, a multiple of 3"),
        ("kpt_shape", "[17, 2]", r"kpt_shape \[17, 2\]: the MaixCAM runtime reads keypoints as \(x, y, visibility\)"),
    ],
)
def test_guard_refuses_what_the_device_would_misread(untrained_export, check_image, tmp_path, key, value, fault):
    model = onnx.load(str(untrained_export))
    for prop in model.metadata_props:
        if prop.key == key:
            prop.value = value
    edited = tmp_path / "edited.onnx"
    onnx.save(model, str(edited))
    with pytest.raises(PosepipeError, match=fault):
        prune(edited, tmp_path / "cut.onnx", tmp_path / "cut.json", check_image, None)


# ---- the decoder against Ultralytics, on the trained small model ----


@pytest.fixture(scope="module")
def pruned_small(trained) -> Path:
    run_snakemake(trained, small_model_config(), "results/small/small_pruned.onnx")
    return trained / "results" / "small"


def ultralytics_predictions(weights: Path, letterboxed: np.ndarray, conf: float):
    from ultralytics import YOLO

    height, width = letterboxed.shape[:2]
    result = YOLO(str(weights)).predict(
        letterboxed[..., ::-1].copy(), imgsz=[height, width], conf=conf, iou=0.45, verbose=False, device="cpu"
    )[0]
    return result.boxes.xyxy.numpy(), result.boxes.conf.numpy(), result.keypoints.xy.numpy()


def box_iou(a, b) -> float:
    wi = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    hi = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = wi * hi
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def assert_decoder_matches_ultralytics(model_dir: Path, image_paths: list[Path], conf: float) -> int:
    """The decoder on the pruned ONNX against Ultralytics' predict on the .pt, same letterboxed input.
    In float: the same detections above `conf`, box IoU >= 0.98, kept keypoints within 2 px. As the
    device decodes (int truncation): every detection within 2 px of one of Ultralytics' (boxes of
    ~60 px lose more than 0.02 IoU to truncation alone at this small input size)."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(model_dir / "small_pruned.onnx"), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    compared = 0
    for path in image_paths:
        letterboxed = decoder.letterbox(read_rgb(path), 128, 160)
        outputs = session.run(names, {"images": decoder.to_input(letterboxed)})
        boxes, scores, keypoints = ultralytics_predictions(model_dir / "train" / "best.pt", letterboxed, conf)
        for integer in (False, True):
            ours = decoder.decode(outputs, (128, 160), conf_th=conf, integer=integer)
            if not integer:  # int boxes may tip an NMS decision sitting at the IoU threshold
                assert len(ours) == len(boxes), f"{path.name}: {len(ours)} detections, Ultralytics {len(boxes)}"
            for detection in ours:
                ious = [box_iou(detection.box_xyxy, box) for box in boxes]
                match = int(np.argmax(ious))
                if integer:
                    assert np.abs(np.subtract(detection.box_xyxy, boxes[match])).max() <= 2, path.name
                else:
                    assert ious[match] >= 0.98, f"{path.name}: box IoU {ious[match]:.3f}"
                assert abs(detection.score - scores[match]) < 1e-3
                points = np.reshape(detection.points, (-1, 2))
                # kept by the keypoint threshold, and inside the input (Ultralytics clips, the device does not)
                inside = (points >= 0).all(axis=1) & (points[:, 0] <= 160) & (points[:, 1] <= 128)
                compare = np.array(detection.kept, dtype=bool) & inside
                if compare.any():
                    off = np.abs(points[compare] - keypoints[match][compare]).max()
                    assert off <= 2, f"{path.name}: keypoints {off:.1f} px off"
                compared += integer
    return compared


def test_decoder_matches_ultralytics_on_demo_images(pruned_small, trained):
    images = sorted((trained / "results" / "datasets" / "demo" / "images" / "val").glob("*.jpg"))
    assert assert_decoder_matches_ultralytics(pruned_small, images, conf=0.1) > 0


def test_decoder_matches_ultralytics_on_real_photos(pruned_small, coco_real):
    images = sorted(coco_real.glob("*.jpg"))
    assert assert_decoder_matches_ultralytics(pruned_small, images, conf=0.05) > 0


def test_device_metrics_beside_ultralytics(trained):
    run_snakemake(trained, small_model_config(), "results/small/metrics.json")
    metrics = json.loads((trained / "results" / "small" / "metrics.json").read_text())
    device = metrics["device_float"]
    assert device["decoder"]["padding"] == "black"
    assert set(device["box"]) == {"precision", "recall", "mAP50", "mAP50-95"}
    # the same model and images: the device's decoding costs little against Ultralytics' own
    assert abs(device["box"]["mAP50"] - metrics["onnx"]["box"]["mAP50"]) < 0.15
