"""The MaixPy app of a trained model: the real `maixtool release` building the installable zip,
and its main.py run in the real MaixPy, drawing where the device decoder put the keypoints."""

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from posepipe.device import decoder
from support import maixpy_root
from support.checks import head_outputs
from support.parts import require
from support.paths import POSEPIPE_VERSION
from support.runs import copied_build, run_offline, run_snakemake, small_model_config


@pytest.fixture(scope="module")
def app_built(trained) -> Path:
    """The trained small model's app, through the real maixtool (its environment is installed
    from PyPI once per machine, before the offline run)."""
    run_snakemake(trained, small_model_config(), "maixtool_venv")
    run_offline(trained, small_model_config(), "results/small_app")
    return trained / "results" / "small_app"


def test_maixtool_release_builds_the_installable_zip(app_built, trained):
    info = yaml.safe_load((app_built / "app.yaml").read_text())
    assert info["id"] == "posepipe_small" and info["version"] == POSEPIPE_VERSION and info["author"] == "posepipe"
    assert info["desc"].endswith("; needs MaixPy 4.5.0 or newer")  # a YOLOv8 model (docs/app.md)
    assert info["files"] == ["main.py", "small.cvimodel", "small.mud"]
    archive = app_built / "dist" / f"posepipe_small_v{POSEPIPE_VERSION}.zip"
    with zipfile.ZipFile(archive) as z:
        names = z.namelist()
        assert sorted(names) == names and set(names) == {
            f"posepipe_small/{name}" for name in ("app.yaml", "main.py", "small.cvimodel", "small.mud")
        }
        cvimodel = (trained / "results" / "small.cvimodel").read_bytes()
        assert z.read("posepipe_small/small.cvimodel") == cvimodel
        main = z.read("posepipe_small/main.py").decode()
    assert "nn.YOLOv8(" in main
    assert "SKELETON: list[tuple[int, int]] = [(15, 13), (13, 11)" in main  # the demo's COCO skeleton, 0-based
    metrics = json.loads((trained / "results" / "small" / "metrics.json").read_text())
    shipped = metrics["cvimodel"]["thresholds"]
    assert f"KEYPOINT_TH = {shipped['keypoint_th']!r}  #" in main and f"CONF_TH = {shipped['conf_th']!r}  #" in main
    assert sorted(p.name for p in (app_built / "dist").iterdir()) == [archive.name]


def test_the_app_zip_is_byte_identical_across_builds(app_built, trained, tmp_path):
    archive = Path("results/small_app/dist") / f"posepipe_small_v{POSEPIPE_VERSION}.zip"
    workdir = copied_build(trained, tmp_path)
    run_snakemake(workdir, small_model_config(), "results/small_app", extra=["--forcerun", "app"])
    assert (workdir / archive).read_bytes() == (trained / archive).read_bytes()


# keypoint j of the objects the test shows: on a ring of 3 cells (24 px) around its anchor, every
# other one under any keypoint_th the app may ship (sigmoid 0.9975 and 0.0025)
RING = [(1.5 * np.cos(2 * np.pi * j / 17), 1.5 * np.sin(2 * np.pi * j / 17)) for j in range(17)]
LOGITS = [6.0 if j % 2 == 0 else -6.0 for j in range(17)]


def green_block(pixels: np.ndarray, x: int, y: int) -> bool:
    """The 5 x 5 pixels around (x, y) all the app's keypoint colour (image.COLOR_GREEN): what a
    filled circle of radius 3 leaves, and no line of width 2 does."""
    block = pixels[y - 2 : y + 3, x - 2 : x + 3].reshape(-1, 3)
    return bool((block == (0, 255, 0)).all())


def test_the_app_runs_in_the_real_maixpy_and_draws_where_the_decoder_put_the_keypoints(app_built, trained, tmp_path):
    """The shipped app's main.py in a Debian 13 root with the real MaixPy wheel: real image,
    display, app, time and nn.MUD (which reads the shipped .mud); the detector and the camera
    are named fakes (support/maixpy/run_app.py). The camera gives two val images; the detector
    gives the device decoder's output for head outputs built on purpose, at the thresholds the
    app passes, so the check holds for any trained weights."""
    require("maixpy-root")
    root = maixpy_root.root_env()
    height, width = small_model_config()["models"]["small"]["imgsz"]
    shipped = json.loads((trained / "results" / "small" / "metrics.json").read_text())["cvimodel"]["thresholds"]
    thresholds = {"conf_th": shipped["conf_th"], "iou_th": 0.45, "keypoint_th": shipped["keypoint_th"]}
    # two figures, anchors at cells (4, 8) and (12, 4) of the stride-8 grid (16 x 12 cells): their
    # rings inside the frame, and clear of each other, of the other's label (drawn rightwards from
    # its box's corner) and of the frame rate (top left)
    row = width // 8
    outputs = head_outputs(height, width, [(8 * row + 4, 0.99, LOGITS), (4 * row + 12, 0.99, LOGITS)], 17, 1, RING)
    expected = decoder.decode(outputs, (height, width), **thresholds)
    # where every keypoint lies, drawn or not (keypoint_th 0 keeps all: the lowest logit's sigmoid is above 0)
    placed = decoder.decode(outputs, (height, width), **{**thresholds, "keypoint_th": 0.0})
    assert len(expected) == len(placed) == 2
    val = sorted((trained / "results" / "datasets" / "demo" / "images" / "val").glob("*.jpg"))[:2]
    shutil.copytree(app_built, tmp_path / "app", ignore=shutil.ignore_patterns("dist"))
    objects = [{key: getattr(d, key) for key in ("x", "y", "w", "h", "class_id", "score", "points")} for d in expected]
    frames = []
    for index, image in enumerate(val):
        shutil.copy(image, tmp_path / f"frame-{index}.jpg")
        frames.append({"image": f"/mnt/run/frame-{index}.jpg", "objects": objects})
    (tmp_path / "out").mkdir()
    spec = {"app": "/mnt/run/app", "out": "/mnt/run/out", "input_size": [height, width], "frames": frames}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    result = maixpy_root.run_app(root, tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    record = json.loads((tmp_path / "out" / "record.json").read_text())
    # the real nn.MUD read the shipped .mud as the device does
    assert record["detectors"] == [
        {"class": "YOLOv8", "mud_type": "cvimodel", "labels": ["person"], "extra": {
            "model_type": "yolov8", "type": "pose", "input_type": "rgb", "labels": "person", "mean": "0, 0, 0",
            "scale": "0.00392156862745098, 0.00392156862745098, 0.00392156862745098"}}
    ]  # fmt: skip
    assert record["cameras"] == [[width, height, "Format.FMT_RGB888"]]
    assert record["detect"] == [[thresholds["conf_th"], 0.45, thresholds["keypoint_th"]]] * 2
    for index in range(2):
        shown = np.asarray(Image.open(tmp_path / "out" / f"shown-{index}.png").convert("RGB"))
        camera = np.asarray(Image.open(tmp_path / "out" / f"camera-{index}.png").convert("RGB"))
        assert camera.shape == shown.shape == (height, width, 3) and (shown != camera).any()
        for d, every in zip(expected, placed):
            points = list(zip(every.points[::2], every.points[1::2]))
            drawn = [p for p, kept in zip(points, d.kept) if kept]
            assert drawn and all(green_block(shown, x, y) for x, y in drawn), (index, drawn)
            hidden = [p for p, kept in zip(points, d.kept) if not kept]
            assert not any(green_block(shown, x, y) for x, y in hidden), (index, hidden)
            right_edge = shown[d.y + d.h // 2, d.x + d.w - 2 : d.x + d.w + 1]  # image.COLOR_RED, within a pixel
            assert ((right_edge == (255, 0, 0)).all(axis=1)).any(), right_edge
