"""Rule tpu_mlir_image: the derived TPU-MLIR image, built once, tagged by the hash of its recipe."""

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the posepipe package)
from posepipe.errors import PosepipeError, run_rule  # noqa: E402
from posepipe.shared_env import default_root  # noqa: E402
from posepipe.tpu_mlir_env import BUNDLED_GLIBC, ensure_image  # noqa: E402

sm = snakemake  # noqa: F821
ENVS = Path(sm.scriptdir).resolve().parent.parent / "envs"  # the recipe hashed into the image tag


def build():
    command = [
        "docker", "build", "--file", str(ENVS / "tpu-mlir.Dockerfile"), "--tag", sm.params.tag,
        "--build-arg", f"BASE_IMAGE={sm.params.base_image}",
        "--build-arg", f"TPU_MLIR_VERSION={sm.params.tpu_mlir_version}",
        "--build-arg", f"BUNDLED_GLIBC={' '.join(BUNDLED_GLIBC)}",
        "--network", sm.params.build_network, str(ENVS),
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
