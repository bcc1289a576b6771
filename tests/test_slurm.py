"""The workflow through profiles/slurm on a real single-node Slurm (Debian slurm-wlm + munge)."""

import re
import shutil
import subprocess

import numpy as np
import pytest
from conftest import REPO, assert_same_bytes, run_snakemake, tiny_config

LOCAL_SLURM = REPO / "tests" / "slurm" / "local-slurm.sh"
TARGET = "results/tiny/tiny_pruned.onnx"  # demo data, conversion, training, export, pruning: 5 jobs


def slurm_state() -> str:
    result = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True)
    return result.stdout.strip()


@pytest.fixture(scope="module")
def slurm():
    """A running local Slurm: found, or started here (and then stopped here, by PID)."""
    if not (shutil.which("sinfo") and shutil.which("slurmctld") and shutil.which("munged")):
        pytest.skip("needs Slurm: Debian packages slurm-wlm and munge (.ci/run installs and starts them)")
    started = slurm_state() != "idle"
    if started:
        subprocess.run(["bash", str(LOCAL_SLURM), "start"], check=True)
    yield
    if started:
        subprocess.run(["bash", str(LOCAL_SLURM), "stop"], check=True)


def onnx_weights(path):
    import onnx
    from onnx import numpy_helper

    return {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}


@pytest.mark.slow
def test_tiny_pipeline_runs_as_slurm_jobs_and_equals_a_local_run(slurm, tmp_path):
    local_overrides = [
        "--profile", str(REPO / "profiles" / "slurm"),
        # this test cluster: accounting off (squeue for job states), 2 CPUs and 4 GB on its one node
        "--slurm-status-command", "squeue",
        "--slurm-init-seconds-before-status-checks", "5",
        "--set-threads", "train=2",
        "--set-resources", "train:mem_mb=1500", "train:runtime=20",
    ]  # fmt: skip
    on_slurm = run_snakemake(tmp_path / "slurm", tiny_config(), TARGET, extra=local_overrides)
    log = on_slurm.stdout + on_slurm.stderr
    job_ids = sorted(set(re.findall(r"submitted with SLURM jobid (\d+)", log)))
    assert len(job_ids) == 5, log[-3000:]
    history = subprocess.run(["squeue", "--states=all", "-h", "-o", "%i %T"], capture_output=True, text=True).stdout
    states = dict(line.split() for line in history.splitlines())
    assert all(states.get(job) == "COMPLETED" for job in job_ids), (job_ids, history)

    run_snakemake(tmp_path / "local", tiny_config(), TARGET)
    for relative in ("results/demo/annotations/train.json", "results/datasets/demo/labels/train"):
        a, b = tmp_path / "slurm" / relative, tmp_path / "local" / relative
        files = sorted(a.rglob("*.txt")) if a.is_dir() else [a]
        assert files
        for file in files:
            assert_same_bytes(file, b / file.relative_to(a) if a.is_dir() else b)
    slurm_weights = onnx_weights(tmp_path / "slurm" / TARGET)
    local_weights = onnx_weights(tmp_path / "local" / TARGET)
    assert slurm_weights.keys() == local_weights.keys()
    for name, value in slurm_weights.items():
        np.testing.assert_array_equal(value, local_weights[name], err_msg=name)
