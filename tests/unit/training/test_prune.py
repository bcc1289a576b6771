"""The pruned ONNX: discovery by role, the numerical check, the guard, and the score padding."""

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from posepipe.dataset.images import read_rgb
from posepipe.device import decoder, input_contract
from posepipe.infra.errors import PosepipeError
from posepipe.training.prune import check_cut, prune
from support.checks import IOU_TH, device_reference

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
    from posepipe.training.prune import discover, read_head

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
    from posepipe.training.prune import _expose

    description = prune_into(tmp_path, multi_class_export, check_image)
    nc = description["num_classes"]
    outputs = {o["role"]: o for o in description["outputs"]}
    assert nc in (3, 6) and description["score_padding"] == 1
    assert outputs["scores"]["shape"] == [1, nc + 1, N] and outputs["scores"]["name"].endswith("_padded")
    assert description["check"]["max_abs_diff_outputs"] <= 1e-5  # the real channels are the full model's

    model_input = {"images": input_contract.to_input(input_contract.letterbox(read_rgb(check_image), HEIGHT, WIDTH))}
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
    found = decoder.decode(padded, (HEIGHT, WIDTH), conf_th=conf, iou_th=IOU_TH, keypoint_th=0.5)
    assert all(d.class_id < nc for d in found) and found
    if not fragile:
        assert [(d.x, d.y, d.w, d.h, d.class_id) for d in found] == [(k[0], k[1], k[2], k[3], k[5]) for k in kept]


# ---- the decoder against Ultralytics, on the trained small model ----
