"""How the TPU-MLIR tools run (venv route, real tools): with address randomization off and the
same few environment variables, so that the same job gives the same cvimodel every time, and
offline only through the network namespace. The docker route's side of it is in
tests/workflow/test_quantize_docker.py."""

import os
import socket
import subprocess
import sys

import pytest
from posepipe.tpu_mlir.env import TOOL_VARIABLES, Runner, as_tool, find_python310
from support.parts import NO_NETWORK, require
from support.runs import OFFLINE_SITE


def test_python310_is_found_in_pyenv_s_versions_without_running_its_shim(tmp_path, monkeypatch):
    shims, version = tmp_path / "shims", tmp_path / "versions" / "3.10.99" / "bin"
    for folder, script in ((shims, f"touch {tmp_path}/shim-ran"), (version, "echo True")):
        folder.mkdir(parents=True)
        (folder / "python3.10").write_text(f"#!/bin/sh\n{script}\n")
        (folder / "python3.10").chmod(0o755)
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))
    monkeypatch.setenv("PATH", f"{shims}{os.pathsep}/usr/bin:/bin")
    assert find_python310("python3.10") == str(version / "python3.10")
    assert not (tmp_path / "shim-ran").exists()


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="one CPU in this process's set: nothing to confine")
def test_a_tool_given_a_cpu_runs_on_it_alone(tmp_path):
    """A stand-in environment whose python3 is this interpreter: what the runner confines is the
    process it starts, whatever the tool."""
    (tmp_path / "env" / "bin").mkdir(parents=True)
    (tmp_path / "env" / "bin" / "python3").symlink_to(sys.executable)
    runner = Runner("venv", str(tmp_path / "env"))
    affinity = ["python3", "-c", "import os; print(sorted(os.sched_getaffinity(0)))"]
    last = max(os.sched_getaffinity(0))
    assert runner.run(affinity, tmp_path, cpu=last).stdout.strip() == f"[{last}]"
    assert runner.run(affinity, tmp_path).stdout.strip() == str(sorted(os.sched_getaffinity(0)))


def test_a_tool_started_as_tpu_mlir_starts_its_tools_reaches_nothing_from_the_offline_namespace(tmp_path):
    """The TPU-MLIR tools start with an emptied environment (as_tool: `env -i`), so the offline
    guard, loaded through PYTHONPATH, never reaches them; the offline runs' network namespace
    does (support.runs.run_offline). The same tool, with the guard on the caller's path, connects
    to a port this test opens on the loopback, and cannot from inside the namespace."""
    require("network-namespace")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        code = (
            "import os, socket; print(sorted(os.environ)); "
            f"socket.create_connection(('127.0.0.1', {port}), timeout=5); print('connected')"
        )
        tool = as_tool([sys.executable, "-c", code])
        guarded = {**os.environ, "PYTHONPATH": str(OFFLINE_SITE), "POSEPIPE_NETWORK_LOG": str(tmp_path / "attempts")}
        outside = subprocess.run(tool, capture_output=True, text=True, env=guarded)
        inside = subprocess.run([*NO_NETWORK, *tool], capture_output=True, text=True, env=guarded)
    assert outside.returncode == 0 and outside.stdout.splitlines() == [str(sorted(TOOL_VARIABLES)), "connected"]
    assert not (tmp_path / "attempts").exists()  # the guard was not there to see it
    assert inside.returncode != 0 and "Network is unreachable" in inside.stderr, inside.stderr[-2000:]
