"""Rule tpu_mlir_image: the derived TPU-MLIR image, built once, tagged by the hash of its recipe."""

import subprocess
import tempfile
from pathlib import Path

from posepipe.infra.errors import PosepipeError
from posepipe.infra.rule_entry import run_rule
from posepipe.infra.shared_env import default_root
from posepipe.tpu_mlir.env import BUNDLED_GLIBC, ensure_image

sm = snakemake  # noqa: F821


def build():
    # the recipe's texts, as hashed into the tag, make the build context (posepipe's files may be
    # Snakemake's copies from git when it is used as a module)
    with tempfile.TemporaryDirectory() as context:
        (Path(context) / "Dockerfile").write_text(sm.params.recipe["dockerfile"])
        (Path(context) / "tpu-mlir-requirements.txt").write_text(sm.params.recipe["requirements"])
        command = [
            "docker", "build", "--tag", sm.params.tag,
            "--build-arg", f"BASE_IMAGE={sm.params.base_image}",
            "--build-arg", f"TPU_MLIR_VERSION={sm.params.tpu_mlir_version}",
            "--build-arg", f"BUNDLED_GLIBC={' '.join(BUNDLED_GLIBC)}",
            "--network", sm.params.build_network, context,
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True)
    print(result.stdout + result.stderr)
    if result.returncode != 0:
        raise PosepipeError(f"docker build of {sm.params.tag} from {sm.params.base_image} failed; see {sm.log[0]}")


def main():
    # docker's images are the machine's: one build per tag at a time, under a machine-wide lock
    print(ensure_image(sm.params.tag, build, default_root() / "locks"))
    image_id = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", sm.params.tag], capture_output=True, text=True, check=True
    ).stdout.strip()
    Path(sm.output[0]).parent.mkdir(parents=True, exist_ok=True)
    Path(sm.output[0]).write_text(f"{sm.params.tag} {image_id}\n")


run_rule(main, sm.log[0])
