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
from conftest import REPO, SNAKEFILE, small_model_config

SHARED_ENV = REPO / "workflow" / "posepipe" / "infra" / "shared_env.py"
# A stand-in for the main venv's build (the real one takes minutes): it records each build,
# creates the folder slowly, and is complete only at its end.
STAND_IN = (
    'echo build >> "$1"; mkdir "$0"; sleep "$2"; python3 -m venv --without-pip "$0"; '
    '"$0/bin/python" -c "import sys; print(sys.prefix)" > "$0/prefix"'
)


def start_build(link: Path, builds: Path, seconds: float) -> subprocess.Popen:
    command = [
        sys.executable,
        str(SHARED_ENV),
        str(link),
        "--",
        "bash",
        "-c",
        STAND_IN,
        "{}",
        str(builds),
        str(seconds),
    ]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )


def build_folders(root: Path, name: str) -> list[Path]:
    """The folders builds of `name` made (published or not), not its link nor its lock."""
    return [p for p in root.glob(f"{name}.build-*") if p.is_dir() and not p.is_symlink()]


def wait_for_a_build_folder(root: Path, name: str) -> None:
    """Until a builder holds the lock and has made its folder."""
    deadline = time.monotonic() + 30
    while not build_folders(root, name):
        assert time.monotonic() < deadline, f"no build of {name} started"
        time.sleep(0.05)


def test_two_builders_at_once_share_one_complete_build(tmp_path):
    link, builds = tmp_path / "venv-abc", tmp_path / "builds.log"
    first = start_build(link, builds, 3)
    wait_for_a_build_folder(tmp_path, "venv-abc")  # the first holds the lock: a fixed sleep may not suffice
    second = start_build(link, builds, 3)
    assert first.wait(120) == 0 and second.wait(120) == 0, first.stdout.read() + second.stdout.read()
    assert builds.read_text() == "build\n", "the second builder built again instead of waiting"
    assert "built by another run while this one waited" in second.stdout.read()
    # a venv holds its own path: it is used in the folder it was built in, never moved
    assert link.is_symlink() and (link / "prefix").read_text() == f"{link.resolve()}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["builds.log", "venv-abc", "venv-abc.lock", os.readlink(link)]
    )


def test_a_killed_build_is_rebuilt_not_trusted_and_its_lock_is_gone(tmp_path):
    link, builds = tmp_path / "venv-abc", tmp_path / "builds.log"
    killed = start_build(link, builds, 60)
    wait_for_a_build_folder(tmp_path, "venv-abc")
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait(30)
    leftover = build_folders(tmp_path, "venv-abc")
    assert leftover and not link.exists(), "a killed build must leave nothing that looks finished"
    again = start_build(link, builds, 0)
    assert again.wait(60) == 0, "the killed builder's lock blocked the next build"
    output = again.stdout.read()
    assert builds.read_text() == "build\nbuild\n" and "left by an unfinished build" in output
    assert (link / "prefix").read_text() == f"{link.resolve()}\n" and not any(p.exists() for p in leftover)


def test_a_failed_build_publishes_nothing(tmp_path):
    link = tmp_path / "venv-abc"
    command = [sys.executable, str(SHARED_ENV), str(link), "--", "bash", "-c", 'mkdir "$0"; exit 3', "{}"]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 1 and "the build failed (exit 3); nothing was published" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["venv-abc.lock"]


# ---- the TPU-MLIR environment, through the rule ----


def envs_config(venv_root: Path) -> dict:
    config = small_model_config()
    config["quantize"] = {**config["quantize"], "runner": "venv", "venv_root": str(venv_root)}
    return config


def snakemake_command(workdir: Path, config: dict, *targets: str, snakefile: Path = SNAKEFILE) -> list[str]:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "test-config.yaml").write_text(yaml.safe_dump(config))
    return [
        sys.executable, "-m", "snakemake", "--snakefile", str(snakefile), "--directory", str(workdir),
        "--configfile", str(workdir / "test-config.yaml"), "--cores", "2", *targets,
    ]  # fmt: skip


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
    assert [p.name for p in build_folders(root, link.name)] == [os.readlink(link)]
    shutil.rmtree(root)


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
