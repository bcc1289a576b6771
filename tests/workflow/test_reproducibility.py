"""Reproducible rebuilds, and failures that leave nothing a later run could take as complete.
Real Snakemake runs of the whole chain, TPU-MLIR included (hostile names and paths: test_module.py)."""

import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import torch
import yaml
from support.checks import assert_same_bytes
from support.paths import SNAKEFILE
from support.runs import copied_build, planned, run_snakemake, tiny_full_config

BYTE_IDENTICAL = [
    "results/datasets/demo/data.yaml",
    "results/tiny/train/args.yaml",
    "results/tiny/tiny.onnx",
    "results/tiny/tiny_pruned.onnx",
    "results/tiny/tiny_pruned.json",
    "results/tiny/quantize/calibration/kl.table",
    "results/tiny/quantize/int8/tiny.cvimodel",
    "results/tiny/quantize/bf16/tiny.cvimodel",
    "results/tiny/tiny.cvimodel",
    "results/tiny/quantize/report.json",
    "results/tiny/metrics.json",
    "results/tiny.mud",
    "results/tiny_labels.txt",
]


def test_two_builds_from_scratch_are_byte_identical(built_twice):
    a, b = built_twice
    labels = sorted((a / "results" / "datasets" / "demo" / "labels").rglob("*.txt"))
    assert len(labels) == 12
    for path in [*(str(p.relative_to(a)) for p in labels), *BYTE_IDENTICAL]:
        assert_same_bytes(a / path, b / path)


def test_provenance_and_zip_differ_only_by_the_checkpoint_file(built_twice):
    """best.pt holds its training date, wall-clock epoch times and torch's random serialization
    id: its tensors are equal (next test), its sha256 in provenance.json is not."""
    records = [json.loads((w / "results" / "tiny" / "provenance.json").read_text()) for w in built_twice]
    hashes = [r["artifacts"]["weights"].pop("sha256") for r in records]
    assert records[0] == records[1] and hashes[0] != hashes[1]
    archives = [zipfile.ZipFile(w / "results" / "tiny_maixcam.zip") for w in built_twice]
    assert archives[0].namelist() == archives[1].namelist()
    for name in archives[0].namelist():
        if name != "provenance.json":
            assert archives[0].read(name) == archives[1].read(name), name


def test_two_builds_train_identical_weights(built_twice):
    a, b = (torch.load(w / "results/tiny/train/best.pt", weights_only=False) for w in built_twice)
    assert a["train_args"]["data"] == "results/tiny/train-run/data.yaml"  # relative to the working folder
    state_a, state_b = a["model"].state_dict(), b["model"].state_dict()
    assert state_a.keys() == state_b.keys() and len(state_a) > 100
    for key in state_a:
        assert torch.equal(state_a[key], state_b[key]), key


# ---- failures leave nothing that a later run would take as complete ----


def test_bad_image_mid_conversion_leaves_no_dataset(tmp_path):
    from posepipe.dataset import demo

    splits = {"train": 8, "val": 4}
    files = {split: tmp_path / "data" / f"{split}.json" for split in splits}
    folders = {split: tmp_path / "data" / split for split in splits}
    demo.generate(0, splits, 160, 128, files, folders)
    sixth = sorted(folders["train"].iterdir())[5]
    sixth.write_bytes(b"\xff\xd8\xff not a jpeg")  # the sixth of eight images is broken
    config = tiny_full_config()
    config["datasets"] = {"mine": {s: {"annotations": str(files[s]), "images": str(folders[s])} for s in splits}}
    config["models"]["tiny"]["dataset"] = "mine"
    result = run_snakemake(tmp_path / "work", config, "results/datasets/mine", check=False)
    assert result.returncode != 0 and f"image '{sixth.name}': unreadable (a JPEG cut short" in result.stderr
    # the end of the run (Snakefile's onerror): the rule, its log and the log's last line
    ending = "posepipe: rule convert failed; its log results/logs/convert/mine.log ends: posepipe: error: "
    assert ending in result.stdout and f"image '{sixth.name}': unreadable" in result.stdout
    datasets = tmp_path / "work" / "results" / "datasets"
    assert not datasets.exists() or list(datasets.iterdir()) == []  # neither the dataset nor its staging folder
    assert "convert" in planned(tmp_path / "work", config, "results/datasets/mine")


def test_export_killed_mid_way_is_redone(built_twice, tmp_path):
    workdir = copied_build(built_twice[0], tmp_path)
    config = yaml.safe_load((workdir / "test-config.yaml").read_text())
    onnx = workdir / "results" / "tiny" / "tiny.onnx"
    before = onnx.read_bytes()
    # a power cut: the whole Snakemake process group dies while the export job runs
    config_file = workdir / "test-config.yaml"
    command = [
        sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE), "--directory", str(workdir),
        "--configfile", str(config_file), "--cores", "2", "results/tiny/tiny.onnx", "--forcerun", "export_onnx",
    ]  # fmt: skip
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True) as run:
        deadline = time.monotonic() + 120
        while not (workdir / "results" / "tiny" / "export-run" / "onnx" / "model.pt").exists():
            assert run.poll() is None and time.monotonic() < deadline, "the export job never started"
            time.sleep(0.2)
        os.killpg(run.pid, signal.SIGKILL)
    assert "export_onnx" in planned(workdir, config, "results/tiny/tiny.onnx")  # what is left is not done
    run_snakemake(workdir, config, extra=["--unlock"])  # as Snakemake asks after a kill
    run_snakemake(workdir, config, "results/tiny/tiny.onnx")
    assert onnx.read_bytes() == before


def test_no_candidate_within_the_gate_leaves_no_cvimodel_nor_package(built_twice, tmp_path):
    """A one-image similarity that no INT8 model reaches (8-bit activations): the one recipe
    misses it, and selection fails with the table instead of shipping it; the end of the run
    names the rule, its log and the log's last line."""
    workdir = copied_build(built_twice[0], tmp_path)
    config = yaml.safe_load((workdir / "test-config.yaml").read_text())
    config["quantize"].update(deploy_tolerance=[0.9999, 0.9999], recipes=[{"name": "int8"}])
    result = run_snakemake(workdir, config, "results/tiny.mud", check=False)
    assert result.returncode != 0
    assert "posepipe: error: quantize: no recipe's cvimodel is within max_accuracy_drop 1.0" in result.stderr
    ending = "posepipe: rule select_cvimodel failed; its log results/logs/quantize/tiny.select.log ends: "
    assert ending + "posepipe: error: quantize: no recipe's cvimodel is within" in result.stdout + result.stderr
    assert "int8: pose mAP50-95 " in result.stderr and "similarity missed" in result.stderr
    assert "model_deploy.py: tensor /model.22/" in (workdir / "results/logs/quantize/tiny.int8.log").read_text()
    for left in ("tiny.cvimodel", "quantize/report.json"):
        assert not (workdir / "results" / "tiny" / left).exists(), left
    # the .mud of the previous build stays, but is not taken as up to date
    assert {"select_cvimodel", "package"} <= planned(workdir, config, "results/tiny.mud")
