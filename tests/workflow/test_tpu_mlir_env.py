"""How the TPU-MLIR tools run (venv route, real tools): with address randomization off and the
same few environment variables, so that the same job gives the same cvimodel every time. The
docker route's side of it is in tests/test_quantize_docker.py."""

import hashlib
import json
from pathlib import Path

import pytest
from posepipe.tpu_mlir.commands import Recipe
from posepipe.tpu_mlir.env import TOOL_VARIABLES, Runner
from support.runs import build_trained_candidate

ADDR_NO_RANDOMIZE = 0x0040000

# the personality of the tool and of a process the tool starts (TPU-MLIR's tools start each other)
PERSONALITIES = (
    "import subprocess; print(open('/proc/self/personality').read().strip()); "
    "print(subprocess.run(['cat', '/proc/self/personality'], capture_output=True, text=True).stdout.strip())"
)


def venv_runner(trained: Path) -> Runner:
    used = json.loads((trained / "results/small/quantize/transform/transform.json").read_text())["runner"]
    assert used["kind"] == "venv"
    return Runner(used["kind"], used["location"])


def test_the_tools_and_what_they_start_run_without_address_randomization(trained, tmp_path):
    result = venv_runner(trained).run(["python3", "-c", PERSONALITIES], tmp_path)
    assert result.returncode == 0, result.stderr
    personalities = [int(line, 16) for line in result.stdout.split()]
    assert len(personalities) == 2 and all(p & ADDR_NO_RANDOMIZE for p in personalities), personalities


# the tool's environment, and that of a process the tool starts
ENVIRONMENTS = (
    "import json, os, subprocess; print(json.dumps(dict(os.environ))); "
    "print(subprocess.run(['python3', '-c', 'import json, os; print(json.dumps(dict(os.environ)))'], "
    "capture_output=True, text=True).stdout.strip())"
)


@pytest.mark.parametrize("extra", [0, 3, 40])
def test_the_tools_start_with_the_same_variables_whatever_the_caller_has(trained, tmp_path, monkeypatch, extra):
    """The number of variables moves the tool's heap, and with it the order of weight loads in
    the cvimodel (posepipe.tpu_mlir.env): a caller with more, or none of the defaulted ones,
    gives the tools the same names."""
    monkeypatch.delenv("TMPDIR", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    for index in range(extra):
        monkeypatch.setenv(f"POSEPIPE_CALLER_{index}", "x" * index)
    runner = venv_runner(trained)
    result = runner.run(["python3", "-c", ENVIRONMENTS], tmp_path)
    assert result.returncode == 0, result.stderr
    tool, child = (json.loads(line) for line in result.stdout.splitlines())
    assert sorted(tool) == sorted(child) == sorted(TOOL_VARIABLES)
    assert tool["TMPDIR"] == "/tmp" and tool["OMP_NUM_THREADS"] == "2" and tool["LC_ALL"] == "C.UTF-8"
    assert tool["PATH"].startswith(f"{runner.location}/bin:")


def test_a_candidate_rebuilt_three_times_is_one_cvimodel(trained, tmp_path):
    """model_deploy's layer grouping ordered weight loads by address: with randomization on, 20
    deploys gave 3 different files (docs/reproducibility.md). Three builds, in folders of
    other path lengths, of the recipe with both INT8 and BF16 layer groups; two whole builds
    from scratch (test_reproducibility.py) and the docker route (test_quantize_docker.py) give
    the same bytes as well, int8 included."""
    recipe = Recipe.from_config({"name": "int8_bf16_head", "bf16_layers": "head"})
    digests = set()
    for build in range(3):
        out = tmp_path / ("b" * (build + 1))
        report = build_trained_candidate(trained, out, recipe)
        assert report["similarity"]["deploy"], "the deploy's own comparison ran"
        digests.add(hashlib.sha256((out / "small.cvimodel").read_bytes()).hexdigest())
    assert len(digests) == 1, f"{len(digests)} different cvimodels from 3 builds"
