"""How the TPU-MLIR tools run (venv route, real tools): with address randomization off, so that
the same job gives the same cvimodel every time. The docker route's side of it is in
tests/test_quantize_docker.py."""

import hashlib
import json
from pathlib import Path

import pytest
from conftest import build_trained_candidate
from posepipe.tpu_mlir_commands import Recipe
from posepipe.tpu_mlir_env import Runner

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


@pytest.mark.parametrize(
    "recipe",
    [Recipe.from_config({"name": "int8"}), Recipe.from_config({"name": "int8_bf16_head", "bf16_layers": "head"})],
)
def test_a_candidate_rebuilt_eight_times_is_one_cvimodel(trained, tmp_path, recipe):
    """model_deploy's layer grouping ordered weight loads by address: with randomization on, 20
    deploys gave 3 different files (docs/reproducibility.md). Folders of other path lengths too."""
    digests = set()
    for build in range(8):
        out = tmp_path / ("b" * (build + 1))
        report = build_trained_candidate(trained, out, recipe)
        assert report["similarity"]["deploy"], "the deploy's own comparison ran"
        digests.add(hashlib.sha256((out / "small.cvimodel").read_bytes()).hexdigest())
    assert len(digests) == 1, f"{recipe.name}: {len(digests)} different cvimodels from 8 builds"
