# The environments and the image the tools run in, shared by every clone and run on the machine
# (posepipe.infra.shared_env: built under a lock, published whole). Each is named by the hash of what
# it is built from, so it is rebuilt only when that changes. Which one a run uses is chosen
# here too (TPU_MLIR), the first time a job asks.

from posepipe.infra.rule_entry import in_rule_log
from posepipe.infra.shared_env import default_root
from posepipe.packaging.app import ensure_maixtool
from posepipe.tpu_mlir.env import (
    BUNDLED_GLIBC,
    RunnerChoice,
    ensure_venv,
    environment_key,
)

TPU_MLIR_REQUIREMENTS = workflow.source_path("../../envs/tpu-mlir-requirements.txt")


# The image's recipe, read here: its texts are both hashed into its tag and given to the build
# (rule tpu_mlir_image), so the two cannot drift apart.
TPU_MLIR_IMAGE_RECIPE = {
    "dockerfile": Path(
        workflow.source_path("../../envs/tpu-mlir.Dockerfile")
    ).read_text(),
    "requirements": Path(TPU_MLIR_REQUIREMENTS).read_text(),
}

# Each hashes only what it is built from: the venv the pins, the image the Dockerfile and base too.
TPU_MLIR_VENV_KEY = environment_key(
    QUANTIZE["tpu_mlir_version"], TPU_MLIR_IMAGE_RECIPE["requirements"]
)
TPU_MLIR_IMAGE_KEY = environment_key(
    QUANTIZE["tpu_mlir_version"],
    TPU_MLIR_IMAGE_RECIPE["requirements"],
    TPU_MLIR_IMAGE_RECIPE["dockerfile"]
    + QUANTIZE["docker_base_image"]
    + str(BUNDLED_GLIBC),
)
TPU_MLIR_VENV = str(
    Path(QUANTIZE.get("venv_root") or default_root()).expanduser()
    / f"tpu-mlir-{TPU_MLIR_VENV_KEY}"
)
TPU_MLIR_IMAGE = f"posepipe/tpu-mlir:{TPU_MLIR_IMAGE_KEY}"
MAIXTOOL_REQUIREMENTS = workflow.source_path("../../envs/maixtool-requirements.txt")
MAIXTOOL_VENV = str(
    Path(QUANTIZE.get("venv_root") or default_root()).expanduser()
    / f"maixtool-{environment_key('maixtool', Path(MAIXTOOL_REQUIREMENTS).read_text())}"
)


# The TPU-MLIR tools' environment is shared by every clone and run on the machine, so it must be
# rebuilt only when what it is built from changes: that is hashed into its path (TPU_MLIR_VENV_KEY).
# `run:` rather than `script:`, since Snakemake reruns a script rule whose script file is newer
# than its output, which every fresh clone's is. No inputs for the same reason. threads 0: the
# build is mostly pip downloading and unpacking, and must not hold back training.
rule tpu_mlir_venv:
    output:
        f"{TPU_MLIR_VENV}.ready",
    log:
        "results/logs/tpu_mlir_venv.log",
    threads: 0
    params:
        python=QUANTIZE["python310"],
        tpu_mlir_version=QUANTIZE["tpu_mlir_version"],
    run:
        in_rule_log(
            log[0],
            ensure_venv,
            python_setting=params.python,
            venv=TPU_MLIR_VENV,
            tpu_mlir_version=params.tpu_mlir_version,
            requirements_file=TPU_MLIR_REQUIREMENTS,
            log_file=f"{log[0]}.tools",
            ready=output[0],
        )


rule tpu_mlir_image:
    output:
        f"results/.tpu-mlir/image-{TPU_MLIR_IMAGE_KEY}.id",
    log:
        "results/logs/tpu_mlir_image.log",
    conda:
        "../../envs/tpu-mlir.yaml"
    threads: 0
    params:
        tag=TPU_MLIR_IMAGE,
        base_image=QUANTIZE["docker_base_image"],
        build_network=QUANTIZE["docker_build_network"],
        tpu_mlir_version=QUANTIZE["tpu_mlir_version"],
        recipe=TPU_MLIR_IMAGE_RECIPE,
    script:
        "../scripts/tpu_mlir_image.py"


# MaixPy's packager in a shared environment of its own, like tpu_mlir_venv (see there why run:).
rule maixtool_venv:
    output:
        f"{MAIXTOOL_VENV}.ready",
    log:
        "results/logs/maixtool_venv.log",
    threads: 0
    run:
        in_rule_log(
            log[0],
            ensure_maixtool,
            venv=MAIXTOOL_VENV,
            requirements=MAIXTOOL_REQUIREMENTS,
            log_file=f"{log[0]}.tools",
            ready=output[0],
        )


# The runner every TPU-MLIR rule takes (config quantize.runner; `auto` looks around).
TPU_MLIR = RunnerChoice(
    configured=QUANTIZE["runner"],
    python310=QUANTIZE["python310"],
    base_image=QUANTIZE["docker_base_image"],
    image=TPU_MLIR_IMAGE,
    venv=TPU_MLIR_VENV,
    under_conda="conda" in str(workflow.deployment_settings.deployment_method).lower(),
    ready={
        "venv": rules.tpu_mlir_venv.output[0],
        "docker": rules.tpu_mlir_image.output[0],
    },
)
