"""The costly session fixtures of the workflow tests: the shared TPU-MLIR venv, a small model
through the whole chain, and two builds of the tiny config (tests/conftest.py runs each
on one worker)."""

from pathlib import Path

import pytest
from support.runs import run_offline, run_snakemake, small_model_config, tiny_full_config


@pytest.fixture(scope="session")
def tpu_mlir_venv(tmp_path_factory) -> None:
    """The shared TPU-MLIR environment, installed from PyPI once per machine (minutes the first
    time, then reused): every test whose workflow quantizes takes it, before any offline run."""
    run_snakemake(tmp_path_factory.mktemp("tpu-mlir-venv"), small_model_config(), "tpu_mlir_venv")


@pytest.fixture(scope="session")
def trained(tmp_path_factory, tpu_mlir_venv) -> Path:
    """A workdir where a small model went through the whole chain, offline (runs.run_offline):
    trained, validated, exported, pruned, quantized by the real TPU-MLIR tools (venv route) and
    packaged (runs.small_model_config)."""
    workdir = tmp_path_factory.mktemp("trained")
    run_offline(workdir, small_model_config(), "results/small.mud")
    return workdir


@pytest.fixture(scope="session")
def built_twice(tmp_path_factory, tpu_mlir_venv) -> tuple[Path, Path]:
    """Two builds from scratch of the tiny config, in two folders (test_reproducibility, test_provenance)."""
    root = tmp_path_factory.mktemp("rebuild")
    for name in ("a", "b"):
        run_snakemake(root / name, tiny_full_config(), "results/tiny.mud")
    return root / "a", root / "b"
