"""Ultralytics kept offline and out of $HOME: its settings, font and caches in a folder of ours,
its runs in exactly the folder asked for, and the device `auto` resolves to."""

import os

import pytest
from posepipe.training.ultralytics_env import prepare, run_folder, torch_device


def test_prepare_points_settings_and_caches_into_the_folder_and_turns_probes_off(tmp_path, monkeypatch):
    for name in ("YOLO_CONFIG_DIR", "YOLO_OFFLINE", "YOLO_AUTOINSTALL", "XDG_CACHE_HOME", "MPLCONFIGDIR"):
        monkeypatch.setenv(name, "")  # recorded, so that the test's values are undone after it
        monkeypatch.delenv(name)
    folder = prepare(tmp_path / "settings")
    assert folder == (tmp_path / "settings").resolve()
    assert os.environ["YOLO_CONFIG_DIR"] == str(folder)
    assert (os.environ["YOLO_OFFLINE"], os.environ["YOLO_AUTOINSTALL"]) == ("1", "0")
    assert os.environ["XDG_CACHE_HOME"].startswith(str(folder)) and os.environ["MPLCONFIGDIR"].startswith(str(folder))
    font = folder / "Ultralytics" / "Arial.ttf"
    assert font.read_bytes()[:4] in (b"\x00\x01\x00\x00", b"true")  # a TrueType font, found where check_font looks


def test_a_run_folder_is_exactly_the_one_asked_for(tmp_path):
    arguments = run_folder(tmp_path / "results" / "m" / "train-run")
    assert arguments == {"project": str((tmp_path / "results" / "m").resolve()), "name": "train-run", "exist_ok": True}


@pytest.mark.parametrize(
    ("requested", "cuda", "device"),
    [("auto", True, "0"), ("auto", False, "cpu"), ("cpu", True, "cpu"), ("1", False, "1")],
)
def test_auto_takes_the_first_gpu_torch_sees_and_anything_else_is_passed_on(requested, cuda, device):
    assert torch_device(requested, cuda) == device
