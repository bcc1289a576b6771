"""The workflow through profiles/slurm on a real single-node Slurm (Debian slurm-wlm + munge)."""

import contextlib
import fcntl
import json
import re
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from support.checks import assert_same_bytes
from support.parts import require
from support.paths import REPO
from support.runs import copied_build, run_snakemake, search_config, small_model_config, tiny_config

LOCAL_SLURM = REPO / "tests" / "support" / "slurm" / "local-slurm.sh"
TARGET = "results/tiny/tiny.onnx"  # demo data, conversion, training, export: 4 jobs


def slurm_answers() -> bool:
    """A controller answers with the node's state (idle, or busy with another test's jobs)."""
    result = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True)
    return result.returncode == 0 and bool(result.stdout.strip())


@pytest.fixture(scope="module")
def slurm():
    """A running local Slurm: found, or started here and stopped here, by PID. Every test process
    (a pytest-xdist worker) that uses it holds a shared lock while it does, so the one that
    started it stops it only once no other one is using it; deciding to start or to stop takes
    a second lock, held only while deciding, so that a user does not wait for another's tests."""
    require("slurm")
    locks = Path(tempfile.gettempdir())
    with (
        open(locks / "posepipe-test-slurm.lock", "a") as deciding,
        open(locks / "posepipe-test-slurm.use", "a") as using,
    ):
        with flocked(deciding):
            started = not slurm_answers()
            if started:
                subprocess.run(["bash", str(LOCAL_SLURM), "start"], check=True)
            fcntl.flock(using, fcntl.LOCK_SH)
        yield
        if started:
            with flocked(deciding):
                fcntl.flock(using, fcntl.LOCK_EX)  # waits for every other user
                subprocess.run(["bash", str(LOCAL_SLURM), "stop"], check=True)


@contextlib.contextmanager
def flocked(file):
    fcntl.flock(file, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(file, fcntl.LOCK_UN)


def onnx_weights(path):
    import onnx
    from onnx import numpy_helper

    return {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}


# rule train's resources in the profile, and what this test cluster (2 CPUs and 4 GB on its one
# node) can grant
PROFILE_TRAIN = "  train:\n    runtime: 720\n    mem_mb: 8000\n"
TEST_CLUSTER_TRAIN = "  train:\n    runtime: 20\n    mem_mb: 1500\n"


def fitted_slurm_profile(tmp_path: Path, gpu: bool = False) -> Path:
    """profiles/slurm fitted to this test cluster: rule train's time and memory lowered (on the
    command line, --set-resources would replace the profile's whole set-resources), and its GPU
    line uncommented where `gpu`, as a user would."""
    text = (REPO / "profiles" / "slurm" / "config.yaml").read_text()
    fitted = text.replace(PROFILE_TRAIN, TEST_CLUSTER_TRAIN)
    assert fitted != text, "rule train's resources moved in profiles/slurm: update this test"
    if gpu:
        assert "\n    # gpu: 1 " in fitted, "the profile's GPU line moved: update this test"
        fitted = fitted.replace("\n    # gpu: 1 ", "\n    gpu: 1 ")
    folder = tmp_path / "profile"
    folder.mkdir()
    (folder / "config.yaml").write_text(fitted)
    return folder


def on_test_cluster(profile: Path) -> list[str]:
    """Snakemake's arguments for `profile` on this test cluster: accounting off (squeue for job
    states), training on both CPUs."""
    return [
        "--profile", str(profile),
        "--slurm-status-command", "squeue",
        "--slurm-init-seconds-before-status-checks", "5",
        "--set-threads", "train=2",
    ]  # fmt: skip


def submitted_jobs(run: subprocess.CompletedProcess) -> dict[str, str]:
    """Slurm job id -> rule, of the jobs this run submitted."""
    log = run.stdout + run.stderr
    return dict(re.findall(r"Job \d+ has been submitted with SLURM jobid (\d+) \(log: [^)]*/rule_(\w+)/", log))


def completed_slurm_jobs(run: subprocess.CompletedProcess) -> dict[str, int]:
    """Rule -> number of its jobs Slurm ran to completion, of those this run submitted."""
    log = run.stdout + run.stderr
    submitted = submitted_jobs(run)
    assert submitted, log[-3000:]
    history = subprocess.run(["squeue", "--states=all", "-h", "-o", "%i %T"], capture_output=True, text=True).stdout
    states = dict(line.split() for line in history.splitlines())
    assert all(states.get(job) == "COMPLETED" for job in submitted), (submitted, history)
    counts: dict[str, int] = {}
    for rule in submitted.values():
        counts[rule] = counts.get(rule, 0) + 1
    return counts


@pytest.mark.slow
def test_tiny_pipeline_runs_as_slurm_jobs_and_equals_a_local_run(slurm, built_twice, tmp_path):
    """The tiny chain to its ONNX export as Slurm jobs, against a local build of the same
    settings (built_twice: tiny_full_config trains the model tiny_config does). The profile's GPU
    line for rule train is uncommented, as a user would: the training job holds one GPU (this
    test cluster declares one, tests/support/slurm/local-slurm.sh), and with `device: auto`
    training records the device torch saw in it (the CPU here: there is no GPU)."""
    import torch
    from posepipe.training.ultralytics_env import torch_device

    profile = fitted_slurm_profile(tmp_path, gpu=True)
    on_slurm = run_snakemake(tmp_path / "slurm", tiny_config(), TARGET, extra=on_test_cluster(profile))
    assert sum(completed_slurm_jobs(on_slurm).values()) == 4
    train_job = next(job for job, rule in submitted_jobs(on_slurm).items() if rule == "train")
    granted = subprocess.run(["scontrol", "show", "job", train_job], capture_output=True, text=True).stdout
    assert re.search(r"TresPerJob=gres[:/]gpu:1\b", granted), granted
    machine = json.loads((tmp_path / "slurm" / "results" / "tiny" / "train" / "machine.json").read_text())
    assert machine["device"] == torch_device("auto", torch.cuda.is_available())

    local = built_twice[0]
    for relative in ("results/demo/annotations/train.json", "results/datasets/demo/labels/train"):
        a, b = tmp_path / "slurm" / relative, local / relative
        files = sorted(a.rglob("*.txt")) if a.is_dir() else [a]
        assert files
        for file in files:
            assert_same_bytes(file, b / file.relative_to(a) if a.is_dir() else b)
    slurm_weights = onnx_weights(tmp_path / "slurm" / TARGET)
    local_weights = onnx_weights(local / TARGET)
    assert slurm_weights.keys() == local_weights.keys()
    for name, value in slurm_weights.items():
        np.testing.assert_array_equal(value, local_weights[name], err_msg=name)


@pytest.mark.slow
def test_a_candidate_s_val_shards_run_as_slurm_jobs_and_give_the_local_scores(slurm, trained, tmp_path):
    workdir = copied_build(trained, tmp_path)
    recipe = "results/small/quantize/int8"
    sharded = on_test_cluster(fitted_slurm_profile(tmp_path)) + ["--set-scatter", "val_shards=3"]
    on_slurm = run_snakemake(workdir, small_model_config(), f"{recipe}/metrics.json", extra=sharded)
    jobs = completed_slurm_jobs(on_slurm)
    assert jobs == {"simulate_candidate": 3, "score_candidate_shard": 3, "validate_candidate": 1}, jobs
    for name in ("metrics.json", "val-stats.npz"):
        assert_same_bytes(workdir / recipe / name, trained / recipe / name, "3 shards on Slurm against the local build")


@pytest.mark.slow
def test_a_search_s_points_train_as_slurm_jobs_of_their_own(slurm, tmp_path):
    config = search_config(architectures=["yolov8n-pose.yaml"], imgsz=[[64, 96], [96, 128]])
    weights = [f"results/poses.yolov8n-pose_{size}/train/best.pt" for size in ("64x96", "96x128")]
    on_slurm = run_snakemake(tmp_path / "work", config, *weights, extra=on_test_cluster(fitted_slurm_profile(tmp_path)))
    assert completed_slurm_jobs(on_slurm) == {"demo_dataset": 1, "convert": 1, "train": 2}
    assert all((tmp_path / "work" / path).is_file() for path in weights)
