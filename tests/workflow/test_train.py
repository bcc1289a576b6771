"""Training, validation and export: offline, resumable, reproducible (real Ultralytics runs)."""

import csv
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from posepipe.training.export import export_onnx
from support.checks import assert_same_bytes
from support.parts import require
from support.paths import SNAKEFILE
from support.runs import SMALL_IMGSZ, TRAINING_SEED, run_snakemake, small_model_config, tiny_config


def test_training_and_validation_run_offline(trained):
    """The shared `trained` run had no network (a namespace of its own), every Python process
    under the guard that records any attempt, and an empty $HOME."""
    require("network-namespace")
    assert (trained / "offline-run.txt").read_text() == "network namespace\n"
    loaded = (trained / "guard-loaded.log").read_text()
    assert ".train.py" in loaded and ".convert.py" in loaded, loaded[:2000]  # rule scripts are guarded
    assert len(loaded.splitlines()) >= 10, loaded
    attempts = trained / "network-attempts.log"
    assert not attempts.exists(), f"network was tried:\n{attempts.read_text()}"
    written = [p for p in (trained / "home").rglob("*") if p.is_file()]
    # Snakemake keeps its own source cache there; nothing of the pipeline's may be
    assert [p for p in written if "snakemake" not in p.parts] == [], "the pipeline wrote to the home directory"
    config_dir = trained / "results" / ".ultralytics"
    assert (config_dir / "Ultralytics" / "Arial.ttf").is_file()
    assert (config_dir / "Ultralytics" / "settings.json").is_file()


def test_training_outputs(trained):
    train = trained / "results" / "small" / "train"
    for name in ("best.pt", "results.csv", "args.yaml", "results.png", "machine.json"):
        assert (train / name).is_file(), name
    import torch

    machine = json.loads((train / "machine.json").read_text())
    assert machine["torch_cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert machine["torch_threads"] == 2 and machine["cpu_model"]
    assert machine["device"] == ("0" if torch.cuda.is_available() else "cpu")  # device: auto, the default
    rows = list(csv.DictReader((train / "results.csv").open()))
    assert [int(float(r["epoch"])) for r in rows] == list(range(1, 31))
    args = (train / "args.yaml").read_text()
    assert "deterministic: true" in args and f"seed: {TRAINING_SEED}\n" in args


def test_metrics_json_has_pt_and_onnx_side_by_side(trained):
    metrics = json.loads((trained / "results" / "small" / "metrics.json").read_text())
    for source in ("pt", "onnx"):
        assert metrics[source]["imgsz"] == SMALL_IMGSZ
        for part in ("box", "pose"):
            assert set(metrics[source][part]) == {"precision", "recall", "mAP50", "mAP50-95"}
        assert set(metrics[source]["per_class"]) == {"person"}
    rows = list(csv.DictReader((trained / "results" / "small" / "metrics.csv").open()))
    assert {(r["source"], r["class"], r["part"]) for r in rows} >= {("pt", "all", "pose"), ("onnx", "person", "box")}


def test_the_onnx_computes_what_the_pt_does(trained):
    """The exported graph against the trained weights on a val image: the same head output
    (output0: boxes, scores, keypoints of every anchor) to float rounding, whatever they learned."""
    import numpy as np
    import onnxruntime
    import torch
    from posepipe.dataset.images import read_rgb
    from posepipe.device import input_contract
    from ultralytics import YOLO

    model = trained / "results" / "small"
    image = sorted((trained / "results" / "datasets" / "demo" / "images" / "val").glob("*.jpg"))[0]
    x = input_contract.to_input(input_contract.letterbox(read_rgb(image), *SMALL_IMGSZ))
    session = onnxruntime.InferenceSession(str(model / "small.onnx"), providers=["CPUExecutionProvider"])
    (exported,) = session.run(["output0"], {"images": x})
    with torch.no_grad():
        trained_output = YOLO(str(model / "train" / "best.pt")).model.float().eval()(torch.from_numpy(x))[0].numpy()
    assert exported.shape == trained_output.shape == (1, 4 + 1 + 17 * 3, 12 * 16 + 6 * 8 + 3 * 4)
    np.testing.assert_allclose(exported, trained_output, rtol=1e-4, atol=1e-2)  # pixels up to 128


def test_onnx_and_pt_map_agree(trained):
    """Ultralytics' validation of the two on the same images: the same figures (the graphs
    compute the same outputs: test_the_onnx_computes_what_the_pt_does)."""
    metrics = json.loads((trained / "results" / "small" / "metrics.json").read_text())
    for part in ("box", "pose"):
        for name in ("mAP50", "mAP50-95"):
            assert abs(metrics["pt"][part][name] - metrics["onnx"][part][name]) <= 0.005, (part, name)


def test_onnx_export_is_byte_identical_across_exports(trained, tmp_path):
    weights = trained / "results" / "small" / "train" / "best.pt"
    config_dir = trained / "results" / ".ultralytics"
    for name in ("a", "b"):
        export_onnx(
            weights=weights,
            destination=tmp_path / f"{name}.onnx",
            imgsz=SMALL_IMGSZ,
            opset=17,
            work_dir=tmp_path / f"work-{name}",
            config_dir=config_dir,
        )
    assert_same_bytes(tmp_path / "a.onnx", tmp_path / "b.onnx")
    assert_same_bytes(tmp_path / "a.onnx", trained / "results" / "small" / "small.onnx")


def test_onnx_has_static_deployment_shape(trained):
    import onnx

    model = onnx.load(str(trained / "results" / "small" / "small.onnx"))
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, *SMALL_IMGSZ]
    assert model.opset_import[0].version == 17
    assert "date" not in {p.key for p in model.metadata_props}


def test_torchscript_export_through_the_generic_rule(trained):
    import torch

    run_snakemake(trained, small_model_config(), "results/small/export/torchscript")
    files = list((trained / "results" / "small" / "export" / "torchscript").glob("*.torchscript"))
    assert len(files) == 1
    module = torch.jit.load(str(files[0]))
    output = module(torch.zeros(1, 3, *SMALL_IMGSZ))
    output = output[0] if isinstance(output, (list, tuple)) else output
    assert output.shape[1] == 4 + 1 + 17 * 3  # box, one class, 17 keypoints x 3


def test_export_format_without_its_package_is_refused(trained):
    result = run_snakemake(trained, small_model_config(), "results/small/export/coreml", check=False)
    assert result.returncode != 0
    assert "export format 'coreml' needs coremltools, which is not installed" in result.stdout + result.stderr


def _train_job_pids(snakemake_pid: int) -> list[int]:
    import psutil

    try:
        children = psutil.Process(snakemake_pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return [p.pid for p in children if any("train.py" in part for part in p.cmdline())]


def _epochs(results_csv: Path) -> list[int]:
    if not results_csv.is_file():
        return []
    return [int(float(row["epoch"])) for row in csv.DictReader(results_csv.open())]


@pytest.mark.slow
def test_training_resumes_after_the_job_is_killed(tmp_path):
    """SIGKILL the training job (as a Slurm time limit would) after its first epoch; building the
    target again resumes from the last completed epoch and ends with every epoch exactly once."""
    epochs = 4
    config = tiny_config(epochs=epochs)
    run_snakemake(tmp_path, config, "results/datasets/demo")
    (tmp_path / "test-config.yaml").write_text(json.dumps(config))
    command = [
        sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE), "--directory", str(tmp_path),
        "--configfile", str(tmp_path / "test-config.yaml"), "--cores", "2", "results/tiny/train/best.pt",
    ]  # fmt: skip
    checkpoint = tmp_path / "results" / "tiny" / "train-run" / "weights" / "resume.pt"
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not checkpoint.exists() and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.05)
    killed = _train_job_pids(first.pid)
    for pid in killed:
        subprocess.run(["kill", f"-{signal.SIGKILL.value}", str(pid)], check=False)
    assert first.wait(timeout=120) != 0 and killed, "the training job was not killed mid-run"
    assert not (tmp_path / "results" / "tiny" / "train" / "best.pt").exists()

    run_snakemake(tmp_path, config, "results/tiny/train/best.pt")
    log = (tmp_path / "results" / "logs" / "train" / "tiny.log").read_text()
    resumed = re.search(r"resuming \S+ after epoch (\d+) of 4", log)
    assert resumed, log[-2000:]
    done_before = int(resumed.group(1))
    assert 1 <= done_before < epochs  # epoch 1 was trained once, before the kill
    assert f"from epoch {done_before + 1} to {epochs} total epochs" in log
    assert _epochs(tmp_path / "results" / "tiny" / "train" / "results.csv") == list(range(1, epochs + 1))
