"""The pruned ONNX: discovery by role, the numerical check, the guard, and decoder parity."""

import json
import zipfile
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import POSEPIPE_VERSION, run_snakemake, small_model_config, write_json
from posepipe import decoder
from posepipe.errors import PosepipeError
from posepipe.images import read_rgb
from posepipe.prune import check_cut, prune

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


def prune_into(folder: Path, onnx_path: Path, check_image: Path, explicit: dict | None = None) -> dict:
    """prune() writing cut.onnx and cut.json into `folder`."""
    return prune(
        onnx_path=onnx_path,
        out_onnx=folder / "cut.onnx",
        out_json=folder / "cut.json",
        check_image=check_image,
        explicit=explicit,
    )


def test_discovery_by_role(untrained_export, check_image, tmp_path):
    description = prune_into(tmp_path, untrained_export, check_image)
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
        prune_into(tmp_path, untrained_export, check_image, documented)
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
        prune_into(tmp_path, edited, check_image)


# ---- class counts that are a multiple of 3: one zero score channel more ----


@pytest.fixture(scope="module", params=[3, 6])
def multi_class_export(request, tmp_path_factory) -> Path:
    """An ONNX export of a yolov8n-pose of 3 or 6 classes built from its YAML (random weights)."""
    import ultralytics
    import yaml
    from ultralytics import YOLO

    work = tmp_path_factory.mktemp(f"classes{request.param}")
    spec = yaml.safe_load((Path(ultralytics.__file__).parent / "cfg/models/v8/yolov8-pose.yaml").read_text())
    (work / "yolov8n-pose.yaml").write_text(yaml.safe_dump({**spec, "nc": request.param}))
    YOLO(str(work / "yolov8n-pose.yaml")).save(str(work / "model.pt"))
    return Path(YOLO(str(work / "model.pt")).export(format="onnx", imgsz=[HEIGHT, WIDTH], opset=17, simplify=True))


def test_scores_are_padded_so_that_the_runtime_tells_them_from_keypoints(multi_class_export, check_image, tmp_path):
    import onnxruntime
    from posepipe.prune import _expose

    description = prune_into(tmp_path, multi_class_export, check_image)
    nc = description["num_classes"]
    outputs = {o["role"]: o for o in description["outputs"]}
    assert nc in (3, 6) and description["score_padding"] == 1
    assert outputs["scores"]["shape"] == [1, nc + 1, N] and outputs["scores"]["name"].endswith("_padded")
    assert description["check"]["max_abs_diff_outputs"] <= 1e-5  # the real channels are the full model's

    model_input = {"images": decoder.to_input(decoder.letterbox(read_rgb(check_image), HEIGHT, WIDTH))}
    padded = onnxruntime.InferenceSession(str(tmp_path / "cut.onnx")).run(None, model_input)
    _, scores, keypoints = decoder.split_outputs(padded, N)  # the runtime's own matching rule
    assert scores.shape == (nc + 1, N) and keypoints.shape == (51, N) and not scores[nc:].any()

    # the same three tensors unpadded, as a cut without padding would give them to the runtime
    names = [outputs["dfl"]["name"], outputs["scores"]["name"].removesuffix("_padded"), outputs["keypoints"]["name"]]
    full = onnx.load(str(multi_class_export))
    unpadded = onnxruntime.InferenceSession(_expose(full, names).SerializeToString()).run(names, model_input)
    assert unpadded[1].shape == (1, nc, N)
    for order in (unpadded, unpadded[::-1]):  # scores taken for keypoints, or keypoints overwritten by scores
        with pytest.raises(ValueError, match="the runtime finds no score output"):
            decoder.split_outputs(list(order), N)

    # decoded as the device does, the padded graph gives what Ultralytics' own output0 gives
    (output0,) = onnxruntime.InferenceSession(str(multi_class_export)).run(["output0"], model_input)
    # a threshold in the widest gap between the 5th and 30th best scores: candidates whatever the weights
    best = np.sort(output0[0, 4 : 4 + nc].max(axis=0))[::-1][:30].astype(np.float64)
    gap = 5 + int(np.argmax(best[5:-1] - best[6:]))
    conf = float(best[gap] + best[gap + 1]) / 2
    kept, _, fragile = device_reference(output0, conf, nc, (HEIGHT, WIDTH))
    found = decoder.decode(padded, (HEIGHT, WIDTH), conf_th=conf)
    assert all(d.class_id < nc for d in found) and found
    if not fragile:
        assert [(d.x, d.y, d.w, d.h, d.class_id) for d in found] == [(k[0], k[1], k[2], k[3], k[5]) for k in kept]


# ---- the decoder against Ultralytics, on the trained small model ----


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


IOU_TH = 0.45


def box_iou(a, b) -> float:
    wi = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    hi = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = wi * hi
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def device_reference(output0: np.ndarray, conf: float, nc: int, size: tuple[int, int]):
    """The device's integer rules applied, independently of posepipe's decoder, to Ultralytics'
    own decoded head (`output0` of the full ONNX: centre-size boxes in pixels, class scores):
    score and class the first maximum over the classes, int-truncated corner and size, NMS per
    class on the int boxes, highest score first, then the clip to the input (`size`, h x w).

    Returns the kept (x, y, w, h, score, class), every candidate (scores down to conf - 1e-3),
    and whether any decision is fragile: a score within 1e-3 of `conf`, or a same-class pair
    whose int IoU sits within 0.1 of the IoU threshold while one of its coordinates lies within
    1e-3 of an integer, where float rounding (ONNX Runtime's last bits) may truncate to the
    neighbouring integer."""
    head = output0[0]
    scores, classes = head[4 : 4 + nc].max(axis=0), head[4 : 4 + nc].argmax(axis=0)
    fragile = bool((np.abs(scores - conf) < 1e-3).any())
    candidates, kept = [], []
    for i in np.argsort(-scores, kind="stable"):
        if scores[i] <= conf - 1e-3:
            break
        cx, cy, w, h = (float(v) for v in head[:4, i])
        exact = (cx - w / 2, cy - h / 2, w, h)
        near_integer = any(abs(v - round(v)) < 1e-3 for v in exact)
        box = (*(int(v) for v in exact), float(scores[i]), int(classes[i]))
        candidates.append(_clipped(box, size))
        if scores[i] <= conf:
            continue
        overlaps = [(box_iou(_corners(box), _corners(k)), k_near) for k, k_near in kept if k[5] == box[5]]
        if any(abs(iou - IOU_TH) < 0.1 and (near_integer or k_near) for iou, k_near in overlaps):
            fragile = True
        if all(iou <= IOU_TH for iou, _ in overlaps):
            kept.append((box, near_integer))
    return [_clipped(box, size) for box, _ in kept], candidates, fragile


def _corners(box: tuple) -> tuple:
    return box[0], box[1], box[0] + box[2], box[1] + box[3]


def _clipped(box: tuple, size: tuple[int, int]) -> tuple:
    """The device's clip of an int (x, y, w, h, ...) box to the input, after NMS."""
    height, width = size
    x, y, w, h, *rest = box
    if x < 0:
        w, x = w + x, 0
    if y < 0:
        h, y = h + y, 0
    return x, y, min(w, width - x), min(h, height - y), *rest


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


def assert_decoder_matches_ultralytics(model_dir: Path, image_paths: list[Path], conf: float) -> int:
    """The decoder on the pruned ONNX against Ultralytics on the same letterboxed input.

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
        letterboxed = decoder.letterbox(read_rgb(path), *size)
        model_input = {"images": decoder.to_input(letterboxed)}
        outputs = pruned.run(names, model_input)
        (output0,) = full.run(["output0"], model_input)
        boxes, scores, classes, keypoints = ultralytics_predictions(model_dir / "train" / "best.pt", letterboxed, conf)

        ours = decoder.decode(outputs, size, conf_th=conf, integer=False)
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

        integer = decoder.decode(outputs, size, conf_th=conf, integer=True)
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
    assert len(images) == 32 and assert_decoder_matches_ultralytics(pruned_small, images, conf=0.1) >= 16


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
    from posepipe.validate import KEYPOINT_TH_GRID

    for source in ("device_float", "cvimodel"):  # the headline: the best keypoint_th measured, stated
        curve = metrics[source]["keypoint_th_curve"]
        assert [point["keypoint_th"] for point in curve] == list(KEYPOINT_TH_GRID)
        best = max(curve, key=lambda point: point["pose"]["mAP50-95"])
        assert (
            metrics[source]["pose"]
            == best["pose"]
            == next(
                point["pose"] for point in curve if point["keypoint_th"] == metrics[source]["decoder"]["keypoint_th"]
            )
        )


# ---- 3 and 6 classes through the whole chain: pruned, quantized, decoded, packaged ----


def multi_class_config(workdir: Path, classes: int) -> dict:
    """The small model's config on the demo figures, with `classes` categories of which the
    figures are the first: the demo's identical figures give nothing to tell classes apart by,
    and a class that cannot be learnt keeps scores near zero, which INT8 flattens (the one-image
    similarity check then fails, for any padding). So the first class is learnt, the others
    stay empty: the shapes, the padding and the decoding are those of any `classes`-class model."""
    config = small_model_config()
    config["quantize"].update(calibration_images=8, recipes=[{"name": "int8"}])  # the shapes matter here
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
@pytest.mark.parametrize("classes", [3, 6])
def test_a_model_of_a_multiple_of_3_classes_reaches_the_package_and_the_app(classes, tmp_path):
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
