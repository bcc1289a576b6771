"""One input contract (posepipe.device.input_contract): the tensor every scoring path feeds the model is
the one TPU-MLIR makes from the same image, and the config cannot contradict it."""

import json
import shutil

import numpy as np
from PIL import Image
from posepipe.dataset.images import read_rgb
from posepipe.device import input_contract
from posepipe.tpu_mlir.env import Runner
from support.checks import transform_flags
from support.paths import REPO

# (width, height): the demo's 4:3, a portrait phone shape, odd sizes where rounding and truncation
# of the scaled size part, one smaller than the input and one already its size
AWKWARD_SIZES = [(320, 240), (97, 300), (100, 301), (299, 97), (77, 203), (333, 517), (1000, 701), (64, 48), (224, 160)]


def rounding_parts(width: int, height: int, into: tuple[int, int]) -> bool:
    """Whether rounding the scaled size instead of truncating it gives another letterbox."""
    scale = min(into[1] / width, into[0] / height)
    return (int(width * scale), int(height * scale)) != (round(width * scale), round(height * scale))


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
    shutil.copyfile(REPO / "tests" / "support" / "tpu_mlir" / "preprocess_images.py", work / "preprocess_images.py")
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
