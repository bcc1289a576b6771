"""One input contract (posepipe.device.input_contract): the tensor every scoring path feeds the model is
the one TPU-MLIR makes from the same image, and the config cannot contradict it."""

import json
import shutil

import numpy as np
from conftest import REPO
from PIL import Image
from posepipe.dataset.images import read_rgb
from posepipe.device import input_contract
from posepipe.tpu_mlir.commands import settings_for_tools, transform_args
from posepipe.tpu_mlir.env import Runner

# (width, height): the demo's 4:3, a portrait phone shape, odd sizes where rounding and truncation
# of the scaled size part, one smaller than the input and one already its size
AWKWARD_SIZES = [(320, 240), (97, 300), (100, 301), (299, 97), (77, 203), (333, 517), (1000, 701), (64, 48), (224, 160)]


def rounding_parts(width: int, height: int, into: tuple[int, int]) -> bool:
    """Whether rounding the scaled size instead of truncating it gives another letterbox."""
    scale = min(into[1] / width, into[0] / height)
    return (int(width * scale), int(height * scale)) != (round(width * scale), round(height * scale))


def test_restating_the_contract_is_accepted_and_contradicting_it_is_refused():
    assert input_contract.contract_faults({}) == []
    restated = {"pixel_format": "rgb", "mean": [0, 0, 0], "scale": [0.003921569] * 3}  # TPU-MLIR docs' 1/255
    assert input_contract.contract_faults(restated) == []
    (fault,) = input_contract.contract_faults({"pixel_format": "bgr"})
    assert fault.startswith("quantize.pixel_format: 'bgr' contradicts the model's input (RGB") and "\n" not in fault
    assert len(input_contract.contract_faults({"mean": [0.485, 0.456, 0.406], "scale": [1, 1, 1]})) == 2


CONFIGURED = {"processor": "cv181x", "transform_tolerance": [0.99, 0.99], "tpu_mlir_version": "1.28.1"}


def transform_flags(height: int, width: int) -> dict[str, str]:
    """The flags model_transform is told, with their values."""
    args = transform_args(settings_for_tools(CONFIGURED, "m", height, width, ["a", "b", "c"]), "m.onnx", "t.jpg")
    return {args[i]: args[i + 1] for i in range(1, len(args) - 1) if args[i].startswith("--")}


def test_model_transform_is_told_the_contract():
    told = transform_flags(160, 224)
    assert "--keep_aspect_ratio" in told and told["--pixel_format"] == "rgb"
    assert [float(v) for v in told["--mean"].split(",")] == [0.0] * 3
    assert [float(v) for v in told["--scale"].split(",")] == [1 / 255] * 3


def test_the_scored_tensor_is_the_one_tpu_mlir_makes_from_the_image(trained, tmp_path):
    """The pipeline's own model_transform test input, and TPU-MLIR's preprocessing of images of
    awkward sizes (the class calibration uses), against what scoring feeds the model."""
    transform = trained / "results" / "small" / "quantize" / "transform"
    done = json.loads((transform / "transform.json").read_text())
    height, width = done["settings"]["height"], done["settings"]["width"]
    with np.load(transform / f"{done['model']}_in_f32.npz") as made:
        theirs = made["images"]
    (test_image,) = transform.glob("test.*")  # the copy model_transform was given
    ours = input_contract.to_input(input_contract.letterbox(read_rgb(test_image), height, width))
    np.testing.assert_array_equal(ours, theirs)

    assert any(rounding_parts(w, h, (height, width)) for w, h in AWKWARD_SIZES)  # the sizes can tell
    work = tmp_path / "work"
    (work / "images").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for w, h in AWKWARD_SIZES:
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(work / "images" / f"{w}x{h}.png")
    shutil.copyfile(REPO / "tests" / "tpu_mlir" / "preprocess_images.py", work / "preprocess_images.py")
    flags = transform_flags(height, width)
    runner = Runner(done["runner"]["kind"], done["runner"]["location"])
    args = [str(height), str(width), flags["--mean"], flags["--scale"], flags["--pixel_format"], "images", "out"]
    result = runner.run(["python3", "preprocess_images.py", *args], work)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    for w, h in AWKWARD_SIZES:
        theirs = np.load(work / "out" / f"{w}x{h}.npy")
        image = read_rgb(work / "images" / f"{w}x{h}.png")
        ours = input_contract.to_input(input_contract.letterbox(image, height, width))
        np.testing.assert_array_equal(ours, theirs, err_msg=f"{w}x{h}")
