"""Rule tpu_mlir_venv: the Python 3.10 environment of the TPU-MLIR tools, built once and reused."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the posepipe package)
from posepipe.errors import PosepipeError, run_rule  # noqa: E402
from posepipe.tpu_mlir_env import build_venv, find_python310  # noqa: E402

sm = snakemake  # noqa: F821
ENVS = Path(sm.scriptdir).resolve().parent.parent / "envs"  # the recipe hashed into the output's path


def main():
    python = find_python310(sm.params.python)
    if python is None:
        raise PosepipeError(f"config: quantize: python310: no Python 3.10 at '{sm.params.python}' nor in pyenv")
    build_venv(python, Path(sm.output[0]).parent, sm.params.tpu_mlir_version, ENVS / "tpu-mlir-requirements.txt")
    Path(sm.output[0]).write_text(f"tpu_mlir {sm.params.tpu_mlir_version} with {python}\n")


run_rule(main, sm.log[0])
