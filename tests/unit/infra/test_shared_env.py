"""Shared environments under concurrent use: one build for many builders, a killed build
never trusted, no lock left behind, and fresh clones that build nothing."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from support.paths import REPO

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
