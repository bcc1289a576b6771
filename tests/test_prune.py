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
    """Ultralytics' predict on the .pt: xyxy boxes, scores, keypoints after its own NMS."""
    from ultralytics import YOLO

    height, width = letterboxed.shape[:2]
    result = YOLO(str(weights)).predict(
        letterboxed[..., ::-1].copy(), imgsz=[height, width], conf=conf, iou=IOU_TH, verbose=False, device="cpu"
    )[0]
    return result.boxes.xyxy.numpy(), result.boxes.conf.numpy(), result.keypoints.xy.numpy()


IOU_TH = 0.45


def box_iou(a, b) -> float:
    wi = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    hi = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = wi * hi
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def device_reference(output0: np.ndarray, conf: float) -> tuple[list[tuple], list[tuple], bool]:
    """The device's integer rules applied, independently of posepipe's decoder, to Ultralytics'
    own decoded head (`output0` of the full ONNX: centre-size boxes in pixels, class scores):
    int-truncated corner and size, NMS on the int boxes, highest score first, then the clip.

    Returns the kept (x, y, w, h, score), every candidate (scores down to conf - 1e-3), and
    whether any decision is fragile: a score within 1e-3 of `conf`, or a pair whose int IoU sits
    within 0.1 of the IoU threshold while one of its coordinates lies within 1e-3 of an integer,
    where float rounding (ONNX Runtime's last bits) may truncate to the neighbouring integer."""
    head = output0[0]
    scores = head[4]  # one class
    fragile = bool((np.abs(scores - conf) < 1e-3).any())
    candidates, kept = [], []
    for i in np.argsort(-scores, kind="stable"):
        if scores[i] <= conf - 1e-3:
            break
        cx, cy, w, h = (float(v) for v in head[:4, i])
        exact = (cx - w / 2, cy - h / 2, w, h)
        near_integer = any(abs(v - round(v)) < 1e-3 for v in exact)
        box = (*(int(v) for v in exact), float(scores[i]))
        candidates.append(_clipped(box, 160, 128))
        if scores[i] <= conf:
            continue
        corners = _corners(box)
        overlaps = [(box_iou(corners, _corners(k)), k_near) for k, k_near in kept]
        if any(abs(iou - IOU_TH) < 0.1 and (near_integer or k_near) for iou, k_near in overlaps):
            fragile = True
        if all(iou <= IOU_TH for iou, _ in overlaps):
            kept.append((box, near_integer))
    return [_clipped(box, 160, 128) for box, _ in kept], candidates, fragile


def _corners(box: tuple) -> tuple:
    return box[0], box[1], box[0] + box[2], box[1] + box[3]


def _clipped(box: tuple, width: int, height: int) -> tuple:
    """The device's clip of an int (x, y, w, h) box to the input, after NMS."""
    x, y, w, h, score = box
    if x < 0:
        w, x = w + x, 0
    if y < 0:
        h, y = h + y, 0
    return x, y, min(w, width - x), min(h, height - y), score


def float_decisions_fragile(output0: np.ndarray, conf: float) -> bool:
    """Whether Ultralytics (torch) and the decoder (ONNX Runtime) could decide differently in
    float: a score within 1e-4 of `conf`, or two candidates within 0.01 IoU of the NMS threshold."""
    head = output0[0]
    if (np.abs(head[4] - conf) < 1e-4).any():
        return True
    cx, cy, w, h = head[:4, head[4] > conf - 1e-4].astype(np.float64)
    x1, y1, x2, y2 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
    inter = np.clip(np.minimum(x2[:, None], x2) - np.maximum(x1[:, None], x1), 0, None) * np.clip(
        np.minimum(y2[:, None], y2) - np.maximum(y1[:, None], y1), 0, None
    )
    iou = inter / (w * h + (w * h)[:, None] - inter)
    np.fill_diagonal(iou, 0)
    return bool((np.abs(iou - IOU_TH) < 0.01).any())


def assert_decoder_matches_ultralytics(model_dir: Path, image_paths: list[Path], conf: float) -> int:
    """The decoder on the pruned ONNX against Ultralytics on the same letterboxed input.

    In float, against predict on the .pt: the same detections above `conf`, box IoU >= 0.98,
    kept keypoints within 2 px. As the device decodes (int truncation), against the device's
    integer rules applied to Ultralytics' own output0 (`device_reference`): the same int boxes
    (1 px: truncation of floats that agree to 1e-4) and the same scores. Count equality is
    asserted only where no decision is fragile; the count of compared images is returned."""
    import onnxruntime

    def session(path: Path):
        return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    pruned, full = session(model_dir / "small_pruned.onnx"), session(model_dir / "small.onnx")
    names = [o.name for o in pruned.get_outputs()]
    compared = 0
    for path in image_paths:
        letterboxed = decoder.letterbox(read_rgb(path), 128, 160)
        model_input = {"images": decoder.to_input(letterboxed)}
        outputs = pruned.run(names, model_input)
        (output0,) = full.run(["output0"], model_input)
        boxes, scores, keypoints = ultralytics_predictions(model_dir / "train" / "best.pt", letterboxed, conf)

        ours = decoder.decode(outputs, (128, 160), conf_th=conf, integer=False)
        fragile = float_decisions_fragile(output0, conf)
        if not fragile:
            assert len(ours) == len(boxes), f"{path.name}: {len(ours)} detections, Ultralytics {len(boxes)}"
        for detection in ours:
            # the same box and score (boxes clipped to the input may coincide: the score tells them apart)
            same = [
                (box_iou(detection.box_xyxy, box), j)
                for j, box in enumerate(boxes)
                if abs(detection.score - scores[j]) < 1e-3
            ]
            iou, match = max(same, default=(0.0, -1))
            if fragile and iou < 0.98:
                continue  # a decision at a threshold that the two runtimes' last bits may tip
            assert iou >= 0.98, f"{path.name}: no Ultralytics box of score {detection.score:.4f} (IoU {iou:.3f})"
            points = np.reshape(detection.points, (-1, 2))
            # kept by the keypoint threshold, and inside the input (Ultralytics clips, the device does not)
            inside = (points >= 0).all(axis=1) & (points[:, 0] <= 160) & (points[:, 1] <= 128)
            compare = np.array(detection.kept, dtype=bool) & inside
            if compare.any():
                off = np.abs(points[compare] - keypoints[match][compare]).max()
                assert off <= 2, f"{path.name}: keypoints {off:.1f} px off"

        integer = decoder.decode(outputs, (128, 160), conf_th=conf, integer=True)
        kept, candidates, fragile = device_reference(output0, conf)
        if not fragile:
            assert len(integer) == len(kept), f"{path.name}: {len(integer)} int detections, reference {len(kept)}"
        for detection in integer:  # a fragile image: at least every detection is a reference candidate
            pool = candidates if fragile else kept
            box = (detection.x, detection.y, detection.w, detection.h)
            same = [
                r
                for r in pool
                if max(abs(a - b) for a, b in zip(box, r[:4])) <= 1 and abs(r[4] - detection.score) < 1e-3
            ]
            assert same, f"{path.name}: int box {box} of score {detection.score:.4f} is not in the reference"
        compared += bool(integer)
    return compared


def test_decoder_matches_ultralytics_on_demo_images(pruned_small, trained):
    images = sorted((trained / "results" / "datasets" / "demo" / "images" / "val").glob("*.jpg"))
    assert assert_decoder_matches_ultralytics(pruned_small, images, conf=0.1) > 0


def test_decoder_matches_ultralytics_on_real_photos(pruned_small, coco_real):
    images = sorted(coco_real.glob("*.jpg"))
    # a low threshold: a model trained on synthetic figures scores real photos low, yet some
    # anchors pass, so that there is something to compare whatever the weights
    assert assert_decoder_matches_ultralytics(pruned_small, images, conf=0.01) > 0


def test_device_metrics_beside_ultralytics(trained):
    run_snakemake(trained, small_model_config(), "results/small/metrics.json")
    metrics = json.loads((trained / "results" / "small" / "metrics.json").read_text())
    device = metrics["device_float"]
    assert device["decoder"]["padding"] == "black"
    assert set(device["box"]) == {"precision", "recall", "mAP50", "mAP50-95"}
    # the same model and images: the device's decoding costs little against Ultralytics' own
    assert abs(device["box"]["mAP50"] - metrics["onnx"]["box"]["mAP50"]) < 0.15
