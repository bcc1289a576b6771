"""The MaixPy app: main.py drawing the dataset's own skeleton (run against a recording test
double of the `maix` API), and the real `maixtool release` building the installable zip."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from posepipe.device import decoder
from posepipe.packaging.app import main_py
from support.checks import head_outputs
from support.paths import REPO

DOUBLE = REPO / "tests" / "support" / "maix_double"

SETTINGS = {"name": None, "version": "1.0.0", "author": "posepipe", "conf_th": 0.5, "iou_th": 0.45, "keypoint_th": 0.3}

# metrics.json's `thresholds` of a shipped cvimodel: what the app takes where the config pins nothing
MEASURED = {"conf_th": 0.35, "detection_f1": 0.8125, "iou_th": 0.45, "keypoint_th": 0.6, "keypoint_f1": 0.75}


def run_app(tmp_path: Path, source: str, frames: list, maixpy: str = "4.12.5", exit_code: int = 0) -> list:
    """main.py run with the `maix` test double on a device with MaixPy `maixpy`; every drawing
    call it made."""
    (tmp_path / "main.py").write_text(source)
    (tmp_path / "frames.json").write_text(json.dumps(frames))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(DOUBLE), str(REPO / "workflow")]),
        "MAIX_DOUBLE_DETECTIONS": str(tmp_path / "frames.json"),
        "MAIX_DOUBLE_RECORD": str(tmp_path / "record.jsonl"),
        "MAIX_DOUBLE_VERSION": maixpy,
    }
    result = subprocess.run([sys.executable, "main.py"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == exit_code, result.stderr
    return [json.loads(line) for line in (tmp_path / "record.jsonl").read_text().splitlines()]


def a_thing(points: list) -> dict:
    return {"x": 5, "y": 6, "w": 50, "h": 40, "class_id": 1, "score": 0.875, "points": points}


def test_the_app_draws_the_dataset_s_own_skeleton(tmp_path):
    """K = 4 with a skeleton of its own (not COCO's 17): lines only where both ends were found."""
    skeleton = [[0, 1], [1, 2], [2, 3]]
    source = main_py("hands", "hands.mud", "yolo11", skeleton, SETTINGS, MEASURED, 120.0)
    compile(source, "main.py", "exec")
    calls = run_app(tmp_path, source, [[a_thing([10, 11, 20, 21, -1, -1, 40, 41])], []])
    assert calls[0] == ["detector", "YOLO11", "hands.mud"] and ["camera", 320, 224, "RGB888"] in calls
    assert [c for c in calls if c[0] == "detect"] == [["detect", 0.5, 0.45, 0.3]] * 2  # thresholds from the config
    assert ["rect", 5, 6, 50, 40] in calls and ["string", 5, 6, "other: 0.88"] in calls
    assert [c for c in calls if c[0] == "line"] == [["line", 10, 11, 20, 21]]  # 1-2 and 2-3 miss keypoint 2
    assert [c for c in calls if c[0] == "circle"] == [["circle", 10, 11], ["circle", 20, 21], ["circle", 40, 41]]
    assert ["string", 4, 4, "30.0 fps"] in calls and calls.count(["show"]) == 2


def test_thresholds_are_the_measured_f1_best_unless_configured():
    unpinned = {**SETTINGS, "conf_th": None, "keypoint_th": None}
    measured = main_py("m", "m.mud", "yolov8", [], unpinned, MEASURED, 120.0)
    assert "CONF_TH = 0.35  # draw a detection whose score is above this (the best detection F1 of the" in measured
    assert "KEYPOINT_TH = 0.6  # draw a keypoint whose visibility is above this (the best keypoint F1 of" in measured
    assert "cvimodel on the val images, 0.750)" in measured and "IOU_TH = 0.45" in measured
    pinned = main_py("m", "m.mud", "yolov8", [], SETTINGS, {**MEASURED, "conf_th": 0.5, "keypoint_th": 0.3}, 120.0)
    assert "CONF_TH = 0.5  # draw a detection whose score is above this (from the config)" in pinned
    assert "KEYPOINT_TH = 0.3  # draw a keypoint whose visibility is above this (from the config)" in pinned


def test_the_app_draws_the_keypoints_the_model_sees_and_none_it_marks_not_visible(tmp_path):
    """Built on purpose, whatever any training gives: head outputs whose visibility puts two of
    four keypoints of each object under the app's KEYPOINT_TH; the runtime (posepipe.device.decoder in
    the test double) decodes them at the thresholds main.py passes."""
    visible, hidden = 3.0, -3.0  # sigmoid 0.95 and 0.05, either side of MEASURED's 0.6
    objects = [(100, 0.9, [visible, hidden, visible, hidden]), (700, 0.8, [hidden, visible, visible, visible])]
    np.savez(tmp_path / "outputs.npz", *head_outputs(224, 320, objects, k=4))
    unpinned = {**SETTINGS, "conf_th": None, "keypoint_th": None}
    source = main_py("hands", "hands.mud", "yolo11", [[0, 1], [1, 2], [2, 3]], unpinned, MEASURED, 120.0)
    calls = run_app(tmp_path, source, [{"head_outputs": str(tmp_path / "outputs.npz")}])
    assert [c for c in calls if c[0] == "detect"] == [["detect", 0.35, 0.45, 0.6]]
    expected = decoder.decode(
        head_outputs(224, 320, objects, k=4), (224, 320), conf_th=0.35, iou_th=0.45, keypoint_th=0.0
    )
    drawn = {tuple(c[1:]) for c in calls if c[0] == "circle"}
    shown = {
        (d.points[2 * j], d.points[2 * j + 1])
        for d, (_, _, logits) in zip(expected, objects)
        for j, v in enumerate(logits)
        if v > 0
    }
    hidden_points = {
        (d.points[2 * j], d.points[2 * j + 1])
        for d, (_, _, logits) in zip(expected, objects)
        for j, v in enumerate(logits)
        if v < 0
    }
    assert len(expected) == 2 and len(shown) == 5 and len(hidden_points) == 3
    assert drawn == shown and not drawn & hidden_points
    lines = [c[1:] for c in calls if c[0] == "line"]
    assert len(lines) == 2  # 1-2 and 2-3 of the second object: only pairs whose both ends are drawn
    assert all(tuple(line[:2]) in shown and tuple(line[2:]) in shown for line in lines)


def test_the_app_draws_no_lines_without_a_skeleton(tmp_path):
    source = main_py("dots", "dots.mud", "yolov8", [], SETTINGS, MEASURED, 120.0)
    calls = run_app(tmp_path, source, [[a_thing([10, 11, 20, 21])]])
    assert calls[0] == ["detector", "YOLOv8", "dots.mud"]
    assert not [c for c in calls if c[0] == "line"] and len([c for c in calls if c[0] == "circle"]) == 2


def test_the_app_on_a_maixpy_too_old_for_its_decoder_says_so_and_opens_nothing(tmp_path):
    """MaixPy 4.3.7's YOLOv8 decodes exactly 17 keypoints and 4.6.0 has no YOLO11 (docs/app.md):
    the app stops before it loads the model, with the launcher's exit message naming both releases."""
    for model_type, too_old, oldest in (("yolov8", "4.3.7", "4.5.0"), ("yolo11", "4.6.0", "4.7.0")):
        source = main_py("dots", "dots.mud", model_type, [], SETTINGS, MEASURED, 120.0)
        calls = run_app(tmp_path, source, [[a_thing([10, 11])]], maixpy=too_old, exit_code=1)
        message = f"needs MaixPy {oldest} or newer, this device has {too_old}"
        assert calls == [["exit_msg", "ERR_NOT_IMPL", message]]
        (tmp_path / "record.jsonl").unlink()
        # the oldest release itself, and a later one with more than one digit to a part, run the app
        for recent in (oldest, "4.12.5"):
            assert run_app(tmp_path, source, [[a_thing([10, 11])]], maixpy=recent)[0][0] == "detector"
            (tmp_path / "record.jsonl").unlink()
