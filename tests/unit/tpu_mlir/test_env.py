"""How the TPU-MLIR tools run (venv route, real tools): with address randomization off and the
same few environment variables, so that the same job gives the same cvimodel every time. The
docker route's side of it is in tests/test_quantize_docker.py."""

import os
import sys

import pytest
from posepipe.tpu_mlir.env import Runner, find_python310


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
