"""Per-rule conda environments pin exactly what the pip requirements pin."""

from pathlib import Path

import yaml
from posepipe.tpu_mlir.env import BUNDLED_GLIBC
from support.paths import REPO


def pins(lines) -> dict[str, str]:
    found = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==")
            found[name.strip().lower().replace("_", "-")] = version.strip()
    return found


def test_every_conda_env_pin_equals_the_requirements_pin():
    required = pins(Path(REPO / "requirements.txt").read_text().splitlines())
    # the TPU-MLIR environment (Python 3.10) has its own pins, and its version in the config schema
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    tpu_mlir = pins((REPO / "envs" / "tpu-mlir-requirements.txt").read_text().splitlines())
    tpu_mlir["tpu-mlir[onnx]"] = schema["$defs"]["quantize"]["properties"]["tpu_mlir_version"]["default"]
    env_files = sorted((REPO / "envs").glob("*.yaml"))
    assert env_files
    for env_file in env_files:
        expected = tpu_mlir if env_file.name == "tpu-mlir.yaml" else required
        env = yaml.safe_load(env_file.read_text())
        pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
        env_pins = pins(pip_section)
        assert env_pins, env_file.name
        for name, version in env_pins.items():
            assert expected.get(name) == version, f"{env_file.name}: {name}=={version}, pinned: {expected.get(name)}"


def test_the_dockerfile_defaults_are_the_config_defaults():
    """The Dockerfile's build arguments are passed by rule tpu_mlir_image; their defaults, for a
    hand-run `docker build`, must be the same version and base."""
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    quantize = schema["$defs"]["quantize"]["properties"]
    dockerfile = (REPO / "envs" / "tpu-mlir.Dockerfile").read_text()
    assert f"ARG TPU_MLIR_VERSION={quantize['tpu_mlir_version']['default']}\n" in dockerfile
    assert f"ARG BASE_IMAGE={quantize['docker_base_image']['default']}\n" in dockerfile
    assert f'ARG BUNDLED_GLIBC="{" ".join(BUNDLED_GLIBC)}"\n' in dockerfile


def test_every_rule_has_a_conda_env():
    """Except `run:` rules, which run inside Snakemake's own process (tpu_mlir_venv: it needs no
    more than the standard library and a Python 3.10 to build from)."""
    for rule_file in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        lines = rule_file.read_text().splitlines()
        rules = sum(line.startswith("rule ") for line in lines) - sum(line.strip() == "run:" for line in lines)
        assert rules == sum(line.strip() == "conda:" for line in lines), rule_file.name
