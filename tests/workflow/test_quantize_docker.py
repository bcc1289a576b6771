"""The docker route of TPU-MLIR, for real: a real dockerd (tests/support/docker/local-docker.sh, started by
.ci/run), the derived image built by rule tpu_mlir_image from envs/tpu-mlir.Dockerfile, and the
tools run in containers. No image registry is reachable here, so the Dockerfile's base is a local
stand-in for sophgo/tpuc_dev (tests/support/docker/standin-image.sh: Debian + Python 3.10 + the tools'
dependencies, without tpu_mlir, which the Dockerfile installs from PyPI).

Also: how `auto` picks a runner, against the real daemon and interpreters of this machine."""

import hashlib
import json
import os
import shutil
import socket
import subprocess
from pathlib import Path

import numpy as np
import pytest
from posepipe.infra.errors import PosepipeError
from posepipe.infra.schema import defaults
from posepipe.tpu_mlir import env as tpu_mlir_env
from posepipe.tpu_mlir.commands import Recipe
from posepipe.tpu_mlir.env import (
    RANDOMIZED_ADDRESSES,
    SECCOMP_PROFILE,
    TOOL_VARIABLES,
    Runner,
    choose_runner,
)
from support.checks import assert_same_bytes
from support.parts import require
from support.paths import REPO
from support.runs import build_trained_candidate, run_snakemake, small_model_config

TPU_MLIR_VERSION = defaults("quantize")["tpu_mlir_version"]

STANDIN_SCRIPT = REPO / "tests" / "support" / "docker" / "standin-image.sh"


@pytest.fixture(scope="session")
def docker() -> None:
    """A docker daemon, asked before the trained model is built: without one these tests skip,
    or fail where the run declared docker provided, at once rather than after the training."""
    require("docker")


@pytest.fixture(scope="module")
def standin_base(docker, trained) -> str:
    """Tag of the local stand-in for sophgo/tpuc_dev, built once per machine from the TPU-MLIR venv."""
    venv = Path(runner_used(trained)["location"])
    python_home = next(
        line.split("=", 1)[1].strip()
        for line in (venv / "pyvenv.cfg").read_text().splitlines()
        if line.startswith("home")
    )
    key = hashlib.sha256(STANDIN_SCRIPT.read_bytes() + venv.name.encode()).hexdigest()[:12]
    tag = f"posepipe-test/tpuc-dev-standin:{key}"
    site_packages = next((venv / "lib").glob("python3.10/site-packages"))
    subprocess.run(["bash", str(STANDIN_SCRIPT), tag, str(Path(python_home).parent), str(site_packages)], check=True)
    return tag


def runner_used(workdir: Path) -> dict:
    return json.loads((workdir / "results" / "small" / "quantize" / "report.json").read_text())["runner"]


# plain INT8 and fp_forward's BF16 head: the tools each recipe kind runs, in containers
DOCKER_RECIPES = ("int8", "int8_bf16_head")


def docker_config(base_image: str) -> dict:
    config = small_model_config()
    config["quantize"].update(runner="docker", docker_base_image=base_image, docker_build_network="host")
    config["quantize"]["recipes"] = [r for r in config["quantize"]["recipes"] if r["name"] in DOCKER_RECIPES]
    return config


@pytest.fixture(scope="module")
def docker_built(standin_base, trained, tmp_path_factory) -> Path:
    """The trained workdir, copied, then quantized, validated and packaged again through docker:
    the change of runner reruns exactly those stages. The val images in one shard: a candidate's
    scores are the same bytes from any number (test_quantize.py)."""
    workdir = tmp_path_factory.mktemp("docker") / "work"
    shutil.copytree(trained, workdir, symlinks=True, ignore=shutil.ignore_patterns("home", "test-config.yaml"))
    run_snakemake(workdir, docker_config(standin_base), "results/small.mud", extra=["--set-scatter", "val_shards=1"])
    return workdir


def test_the_image_is_built_from_the_dockerfile_and_tagged_by_its_hash(docker_built, standin_base):
    (image_file,) = (docker_built / "results" / ".tpu-mlir").glob("image-*.id")
    tag, image_id = image_file.read_text().split()
    key = image_file.stem.removeprefix("image-")
    assert tag == f"posepipe/tpu-mlir:{key}" and runner_used(docker_built) == {"kind": "docker", "location": tag}
    history = subprocess.run(
        ["docker", "history", "--no-trunc", "--format", "{{.CreatedBy}}", image_id], capture_output=True, text=True
    ).stdout
    assert "tpu_mlir[onnx]==${TPU_MLIR_VERSION}" in history and f"TPU_MLIR_VERSION={TPU_MLIR_VERSION}" in history
    assert f"Version: {TPU_MLIR_VERSION}" in pip_show_tpu_mlir(tag).stdout
    assert pip_show_tpu_mlir(standin_base).returncode != 0, "the stand-in base must not hold tpu_mlir"


def pip_show_tpu_mlir(image: str) -> subprocess.CompletedProcess:
    command = ["docker", "run", "--rm", "--network", "none", image, "python3.10", "-m", "pip", "show", "tpu_mlir"]
    return subprocess.run(command, capture_output=True, text=True)


def simulator_outputs(recipe_dir: Path) -> dict[str, list[np.ndarray]]:
    """A candidate's simulator outputs on the val images, by image, from all its shards."""
    outputs = {}
    for shard in sorted((recipe_dir / "val-outputs").iterdir()):
        for entry in json.loads((shard / "index.json").read_text()):
            with np.load(shard / entry["outputs"]) as arrays:
                outputs[entry["image"]] = [arrays[name] for name in arrays.files]
    return outputs


def test_docker_route_gives_the_venv_route_s_cvimodel(docker_built, trained):
    quantize = docker_built / "results" / "small" / "quantize"
    report = json.loads((quantize / "report.json").read_text())
    assert all(b["passed"] for b in report["similarity"]["deploy"]) and report["tpu_mlir_version"] == TPU_MLIR_VERSION
    assert [r["recipe"] for r in report["candidates"]] == list(DOCKER_RECIPES)
    for recipe in DOCKER_RECIPES:
        docker_dir, venv_dir = quantize / recipe, trained / "results/small/quantize" / recipe
        docker_report, venv_report = (json.loads((d / "report.json").read_text()) for d in (docker_dir, venv_dir))
        assert docker_report["bf16"] == venv_report["bf16"] and docker_report["size_bytes"] == venv_report["size_bytes"]
        docker_outputs, venv_outputs = simulator_outputs(docker_dir), simulator_outputs(venv_dir)
        assert docker_outputs.keys() == venv_outputs.keys() and venv_outputs
        for image, arrays in docker_outputs.items():  # bit for bit, on every val image
            assert all(np.array_equal(a, b) for a, b in zip(arrays, venv_outputs[image], strict=True)), image
        # addresses fixed on both routes (docs/reproducibility.md): the same bytes
        assert_same_bytes(docker_dir / "small.cvimodel", venv_dir / "small.cvimodel", recipe)
    shipped = report["chosen"]["recipe"]
    assert shipped == json.loads((trained / "results/small/quantize/report.json").read_text())["chosen"]["recipe"]
    assert_same_bytes(docker_built / "results/small/small.cvimodel", quantize / shipped / "small.cvimodel")
    # the same bytes, so the same scores on the same images
    docker_shipped, venv_shipped = (
        json.loads((build / "results/small/metrics.json").read_text())["cvimodel"] for build in (docker_built, trained)
    )
    assert all(docker_shipped[part] == venv_shipped[part] for part in ("box", "pose", "per_class", "thresholds"))
    assert (docker_built / "results" / "small.mud").read_text() == (trained / "results" / "small.mud").read_text()


def test_container_files_belong_to_the_calling_user(docker_built):
    quantize = docker_built / "results" / "small" / "quantize"
    produced = [p for p in quantize.rglob("*")] + [docker_built / "results" / "small" / "small.cvimodel"]
    assert len(produced) > 10
    owners = {(p.lstat().st_uid, p.lstat().st_gid) for p in produced}
    assert owners == {(os.getuid(), os.getgid())}


def test_containers_run_without_network_privileges_or_other_mounts(tmp_path):
    argv, _ = Runner("docker", "posepipe/tpu-mlir:x").command(["model_transform.py", "--help"], tmp_path)
    assert argv[:3] == ["docker", "run", "--rm"]
    assert argv[argv.index("--network") + 1] == "none"
    assert argv[argv.index("--user") + 1] == f"{os.getuid()}:{os.getgid()}"
    assert [a for a in argv if a.startswith("--volume")] == [f"--volume={tmp_path.resolve()}:/work"]
    assert not any(a.startswith(("--privileged", "--cap-add", "--device", "-v")) for a in argv)
    assert argv[argv.index("--security-opt") + 1] == f"seccomp={SECCOMP_PROFILE}"
    image = argv.index("posepipe/tpu-mlir:x")
    assert argv[image + 1 : image + 3] == ["sh", "-c"] and argv[-2:] == ["model_transform.py", "--help"]


def test_the_seccomp_profile_adds_only_the_personality_that_fixes_addresses():
    """docker's default profile (docker 20.10's profiles/seccomp/default.json) and one rule."""
    rules = json.loads(SECCOMP_PROFILE.read_text())["syscalls"]
    ours = [rule for rule in rules if "posepipe" in rule.get("comment", "")]
    assert len(rules) == 29 and len(ours) == 1
    assert ours[0]["names"] == ["personality"] and ours[0]["action"] == "SCMP_ACT_ALLOW"
    assert ours[0]["args"] == [{"index": 0, "value": 0x0040000, "op": "SCMP_CMP_EQ"}]


PERSONALITY = ["python3.10", "-c", "print(open('/proc/self/personality').read().strip())"]


def test_containers_run_with_fixed_addresses(standin_base, tmp_path):
    result = Runner("docker", standin_base).run(PERSONALITY, tmp_path)
    assert result.returncode == 0 and int(result.stdout, 16) & 0x0040000, (result.stdout, result.stderr)


def test_containers_start_the_tools_with_the_venv_route_s_variables(standin_base, tmp_path):
    """Not the image's ENV nor docker's HOSTNAME: the names the venv route gives (their number
    moves the tool's heap, and with it the cvimodel's bytes)."""
    names = ["python3.10", "-c", "import os; print(' '.join(sorted(os.environ)))"]
    result = Runner("docker", standin_base).run(names, tmp_path)
    assert result.returncode == 0 and result.stdout.split() == sorted(TOOL_VARIABLES), (result.stdout, result.stderr)


def test_a_host_that_refuses_fixed_addresses_still_runs_the_tools_with_one_warning(
    standin_base, tmp_path, monkeypatch, caplog
):
    """docker's own default profile refuses the personality change, for real: the tool runs with
    randomized addresses, and the job says once that its bytes may vary."""
    default_profile = json.loads(SECCOMP_PROFILE.read_text())
    default_profile["syscalls"] = [r for r in default_profile["syscalls"] if "posepipe" not in r.get("comment", "")]
    (tmp_path / "default.json").write_text(json.dumps(default_profile))
    monkeypatch.setattr(tpu_mlir_env, "SECCOMP_PROFILE", tmp_path / "default.json")
    monkeypatch.setattr(tpu_mlir_env, "_warned_randomized", False)
    results = [Runner("docker", standin_base).run(PERSONALITY, tmp_path) for _ in range(2)]
    assert all(r.returncode == 0 and not int(r.stdout, 16) & 0x0040000 for r in results)
    assert all(RANDOMIZED_ADDRESSES in r.stderr for r in results)
    warnings = [r for r in caplog.records if RANDOMIZED_ADDRESSES in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelname == "WARNING" and "may vary" in warnings[0].getMessage()


def test_the_container_has_no_network(docker_built):
    """A tool's container has its own loopback and nothing else: a port this test opens on the
    host's loopback, which any process of the host reaches, is not there for it."""
    tag = runner_used(docker_built)["location"]
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        assert socket.create_connection(("127.0.0.1", port), timeout=5)  # open, from the host
        probe_code = (
            "import os, socket; print(sorted(os.listdir('/sys/class/net')));"
            f"socket.create_connection(('127.0.0.1', {port}), timeout=5)"
        )
        argv, _ = Runner("docker", tag).command(["python3.10", "-c", probe_code], docker_built)
        probe = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert probe.stdout.strip() == "['lo']"
    assert probe.returncode != 0 and "ConnectionRefusedError" in probe.stderr


def test_a_missed_similarity_in_docker_is_recorded_and_the_model_still_built(docker_built, tmp_path):
    report = build_trained_candidate(
        docker_built, tmp_path, Recipe.from_config({"name": "int8"}), deploy_tolerance=[0.9999, 0.9999]
    )
    assert report["similarity_passed"] is False and "[FAILED]" in (tmp_path / "work/logs/deploy.log").read_text()
    assert (tmp_path / "small.cvimodel").read_bytes()[:8] == b"CviModel"


# ---- `auto`: which runner, on this machine ----


def test_auto_takes_docker_when_the_image_or_its_base_is_there(docker_built, standin_base):
    tag = runner_used(docker_built)["location"]
    assert choose_runner("auto", "python3.10", "absent/base:0", tag, under_conda=False) == "docker"
    assert choose_runner("auto", "python3.10", standin_base, "absent/image:0", under_conda=False) == "docker"


def test_auto_falls_back_to_python310_then_conda_then_one_error(monkeypatch, tmp_path):
    assert choose_runner("auto", "python3.10", "absent/base:0", "absent/image:0", under_conda=False) == "venv"
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))  # hides pyenv's 3.10
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # pyenv shims out of reach
    assert choose_runner("auto", "no-such-python", "absent/base:0", "absent/image:0", under_conda=True) == "conda"
    with pytest.raises(PosepipeError) as error:
        choose_runner("auto", "no-such-python", "absent/base:0", "absent/image:0", under_conda=False)
    message = str(error.value)
    assert all(way in message for way in ("docker", "Python 3.10", "--sdm conda")) and "\n" not in message


def test_configured_runner_is_taken_as_is():
    assert choose_runner("venv", "no-such-python", "a", "b", under_conda=False) == "venv"
