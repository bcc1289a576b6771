"""Shared environments under concurrent use: one build for many builders, a killed build
never trusted, no lock left behind, and fresh clones that build nothing."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from support.paths import REPO, SNAKEFILE
from support.runs import small_model_config


def snakemake_command(workdir: Path, config: dict, *targets: str, snakefile: Path = SNAKEFILE) -> list[str]:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "test-config.yaml").write_text(yaml.safe_dump(config))
    return [
        sys.executable, "-m", "snakemake", "--snakefile", str(snakefile), "--directory", str(workdir),
        "--configfile", str(workdir / "test-config.yaml"), "--cores", "2", *targets,
    ]  # fmt: skip


def fresh_copy(destination: Path) -> Path:
    """The checkout's files as a fresh clone has them: every file newer than any environment."""
    listing = ["git", "-C", str(REPO), "ls-files", "--cached", "--others", "--exclude-standard"]
    files = subprocess.run(listing, capture_output=True, text=True, check=True)
    for name in files.stdout.splitlines():
        if (REPO / name).is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(REPO / name, destination / name)
    return destination


def test_a_fresh_clone_plans_no_environment_build(tpu_mlir_venv, tmp_path):
    """The TPU-MLIR environment is complete (the fixture built or reused it)."""
    clone = fresh_copy(tmp_path / "clone")
    config = small_model_config()
    config["quantize"]["runner"] = "venv"
    command = snakemake_command(tmp_path / "work", config, snakefile=clone / "workflow" / "Snakefile")
    dry_run = [*command, "results/small.mud", "--dry-run", "--quiet", "rules"]
    plan = subprocess.run(dry_run, capture_output=True, text=True)
    assert plan.returncode == 0, plan.stderr[-3000:]
    planned = {row[0] for row in map(str.split, plan.stdout.splitlines()) if len(row) == 2 and row[1].isdigit()}
    assert "train" in planned and "tpu_mlir_venv" not in planned, plan.stdout[-3000:]
    first = subprocess.run([*command, "tpu_mlir_venv"], capture_output=True, text=True)
    assert first.returncode == 0 and "Nothing to be done" in first.stdout + first.stderr


def envs_config(venv_root: Path) -> dict:
    config = small_model_config()
    config["quantize"] = {**config["quantize"], "runner": "venv", "venv_root": str(venv_root)}
    return config


@pytest.mark.slow
def test_the_rule_builds_once_for_two_runs_and_after_a_killed_one(tmp_path):
    """A run killed while it builds an environment, then two runs in two working folders at
    once: one builds (again, from scratch), the other waits and reuses it. The rules of both
    shared environments go through shared_env.ensure; this builds maixtool's, a real pip install
    of half a minute. TPU-MLIR's own build (minutes) runs wherever the machine has none yet:
    the `tpu_mlir_venv` fixture, CI on a fresh machine."""
    root = tmp_path / "envs"
    config = envs_config(root)
    killed = subprocess.Popen(
        snakemake_command(tmp_path / "a", config, "maixtool_venv"),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while not list(root.glob("maixtool-*.build-*/bin/pip")) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)  # pip's install has begun, and takes some 20 s: the kill finds it unfinished
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait(30)
    (folder,) = [p for p in root.glob("maixtool-*.build-*") if p.is_dir()]
    link = root / folder.name.partition(".")[0]
    assert not link.exists(), "the killed build left something that looks finished"

    runs = []
    for name in ("b", "c"):
        command = snakemake_command(tmp_path / name, config, "maixtool_venv")
        runs.append(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        time.sleep(2)
    outputs = [run.communicate(timeout=1200)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], "\n".join(o[-3000:] for o in outputs)
    logs = [(tmp_path / name / "results" / "logs" / "maixtool_venv.log").read_text() for name in ("b", "c")]
    assert sorted("already built, reused" in log for log in logs) == [False, True], logs
    assert any("left by an unfinished build" in log for log in logs), logs
    assert link.is_symlink() and (link / "bin" / "maixtool").is_file() and not folder.exists()
    builds = [p.name for p in root.glob(f"{link.name}.build-*") if p.is_dir() and not p.is_symlink()]
    assert builds == [os.readlink(link)]
    shutil.rmtree(root)
