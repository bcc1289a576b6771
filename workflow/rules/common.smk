import functools
import os
import re
import sys
import tomllib
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

min_version("9.0")


def package_root():
    """The folder holding the posepipe package, found from these rules, never from the user's
    folder (as a module, workflow.basedir is the user's): beside them in a clone or a local
    module; for a module read from git (github(..., tag=...)), Snakemake's local copies of the
    package's files (package-files.txt lists them: a git source cannot be listed)."""
    rules = Path(str(workflow.current_basedir))
    if (rules.parent / "posepipe" / "__init__.py").is_file():
        return rules.parent
    with open(workflow.source_path("../posepipe/package-files.txt")) as listing:
        copies = [
            workflow.source_path(f"../posepipe/{name}")
            for name in listing.read().split()
        ]
    init = next(copy for copy in copies if copy.endswith("posepipe/__init__.py"))
    return Path(init).parent.parent


# Importable here, and in every rule script, which Snakemake runs as a process of its own with
# this environment (set here, not read from the user: nothing for `envvars:` to assert).
PACKAGE_ROOT = str(package_root())
sys.path.insert(0, PACKAGE_ROOT)
os.environ.update(
    PYTHONPATH=os.pathsep.join(filter(None, [PACKAGE_ROOT, os.getenv("PYTHONPATH")]))
)
from posepipe.training.export import OTHER_FORMATS, missing_package
from posepipe.tpu_mlir.commands import CONFIGURED_KEYS
from posepipe.device.speed import calibration as device_speed_calibration
from posepipe.tpu_mlir.env import choose_runner
from posepipe.config_check import config_faults
from posepipe.training.validate import METRIC_SOURCES, ULTRALYTICS_SOURCES

with open(workflow.source_path("../schemas/config.schema.yaml")) as schema_file:
    SCHEMA = yaml.safe_load(schema_file)

# One line per fault, naming the key, before any job runs; then validate() fills the defaults.
if faults := config_faults(config, SCHEMA, Path.cwd()):
    raise WorkflowError(
        f"config ({', '.join(map(str, workflow.configfiles)) or 'no config file'}):\n"
        + "\n".join(faults)
    )
validate(config, schema="../schemas/config.schema.yaml")


def with_defaults(entry, definition):
    """The entry with the schema's defaults filled in (validate() fills top-level ones only)."""
    properties = SCHEMA["$defs"][definition]["properties"]
    defaults = {
        key: spec["default"] for key, spec in properties.items() if "default" in spec
    }
    return {**defaults, **entry}


# posepipe's release (pyproject.toml): recorded in provenance.json, the app's version by default
with open(workflow.source_path("../../pyproject.toml"), "rb") as pyproject:
    POSEPIPE_VERSION = tomllib.load(pyproject)["project"]["version"]

DATASETS = config["datasets"]
MODELS = {
    name: with_defaults(entry, "model") for name, entry in config["models"].items()
}

QUANTIZE = with_defaults(config.get("quantize", {}), "quantize")
APP = with_defaults(config.get("app", {}), "app")
APP["version"] = APP["version"] or POSEPIPE_VERSION
DEVICE_SPEED = device_speed_calibration()
# what scoring shares with the app: its iou_th, and conf_th / keypoint_th where the config pins them
APP_THRESHOLDS = {key: APP[key] for key in ("conf_th", "iou_th", "keypoint_th")}
# every recipe with the schema's defaults: what a candidate's rule gets, so that a change to
# one recipe reruns that candidate only
RECIPES = {
    recipe["name"]: with_defaults(recipe, "recipe") for recipe in QUANTIZE["recipes"]
}


# One file per source of the metrics table, each written by its own validation rule.
METRICS_JSON = "results/{model}/metrics/{source}.json"


def metrics_json(source):
    return METRICS_JSON.replace("{source}", source)


def alternatives(names):
    return "|".join(re.escape(name) for name in names)


wildcard_constraints:
    dataset=alternatives(DATASETS),
    model=alternatives(MODELS),
    source=alternatives(ULTRALYTICS_SOURCES),
    recipe=alternatives(RECIPES),
    method=alternatives({recipe["calibration"] for recipe in RECIPES.values()}),
    format=alternatives(OTHER_FORMATS),


def dataset_inputs(wildcards):
    return dataset_files(wildcards.dataset)


def dataset_files(name):
    """The COCO JSON and image folder of each split of a dataset, as named rule inputs."""
    dataset = DATASETS[name]
    return {
        f"{split}_{kind}": dataset[split][key]
        for split in ("train", "val")
        for kind, key in (("json", "annotations"), ("images", "images"))
    }


# Ultralytics' settings folder and font, inside the working directory (never in $HOME)
ULTRALYTICS_CONFIG = "results/.ultralytics"


def model_setting(key):
    """One setting of the model named by the `model` wildcard, as a param function."""
    return lambda wildcards: MODELS[wildcards.model][key]


def model_dataset(wildcards):
    return f"results/datasets/{MODELS[wildcards.model]['dataset']}"


def pretrained_weights(wildcards):
    """A local .pt a model starts from is an input: a changed file retrains."""
    architecture = MODELS[wildcards.model]["architecture"]
    return {"pretrained": architecture} if architecture.endswith(".pt") else {}


def model_sources(wildcards):
    """What a model is built from: its dataset's COCO files and images, and pretrained weights."""
    dataset = MODELS[wildcards.model]["dataset"]
    return {
        **dataset_files(dataset),
        **pretrained_weights(wildcards),
    }


def provenance_settings(wildcards):
    """The config every rule's params of this model derive from (`device` is a resource)."""
    model = MODELS[wildcards.model]
    dataset = DATASETS[model["dataset"]]
    generated = dataset["train"]["annotations"].startswith("results/demo/")
    return {
        "model": {key: value for key, value in model.items() if key != "device"},
        "dataset": dataset,
        "quantize": QUANTIZE,
        "demo": config["demo"] if generated else None,
    }


def final_targets():
    """Every model's package and MaixPy app, and its section of `snakemake --report`."""
    return expand(
        [
            "results/{model}.mud",
            "results/{model}_app",
            "results/{model}/report/summary.rst",
        ],
        model=sorted(MODELS),
    )


def validated_weights(wildcards):
    weights = {"pt": rules.train.output.weights, "onnx": rules.export_onnx.output[0]}
    return expand(weights[wildcards.source], model=wildcards.model)[0]


def export_other_weights(wildcards):
    """Refuse, while the DAG is built, a format whose package is not installed."""
    if missing := missing_package(wildcards.format):
        raise WorkflowError(
            f"export format '{wildcards.format}' needs {missing}, which is not installed"
        )
    return expand(rules.train.output.weights, model=wildcards.model)[0]


# ---- TPU-MLIR: which runner, and what it needs built first (envs.smk builds them) ----


def _file_text(path):
    with open(path) as f:
        return f.read()


@functools.cache
def tpu_mlir_runner():
    """Chosen once, while the DAG is built (config quantize.runner; `auto` looks around)."""
    return choose_runner(
        QUANTIZE["runner"],
        QUANTIZE["python310"],
        QUANTIZE["docker_base_image"],
        TPU_MLIR_IMAGE,
        under_conda="conda"
        in str(workflow.deployment_settings.deployment_method).lower(),
    )


def tpu_mlir_ready(wildcards):
    """What must exist before a TPU-MLIR tool runs: the built venv, or the built image."""
    runner = tpu_mlir_runner()
    if runner == "venv":
        return f"{TPU_MLIR_VENV}.ready"
    if runner == "docker":
        return f"results/.tpu-mlir/image-{TPU_MLIR_IMAGE_KEY}.id"
    return []


def tpu_mlir_location():
    runner = tpu_mlir_runner()
    return {"venv": TPU_MLIR_VENV, "docker": TPU_MLIR_IMAGE, "conda": ""}[runner]


# ---- quantization candidates: what each recipe's rules take ----


def shared_calibration(wildcards):
    """The calibration table a recipe takes: INT8 without a search (a search calibrates itself)."""
    recipe = RECIPES[wildcards.recipe]
    if recipe["precision"] != "INT8" or recipe["bf16_layers"] == "search":
        return {}
    return {
        "calibration": expand(
            rules.quantize_calibrate.output[0],
            model=wildcards.model,
            method=recipe["calibration"],
        )[0]
    }


def candidate_files(wildcards):
    """Every recipe's cvimodel, report, val metrics and per-image stats, and the float model's
    metrics and stats they are held against, as named inputs."""
    files = {
        "reference": expand(
            rules.validate_device.output.metrics, model=wildcards.model
        )[0],
        "reference_stats": expand(
            rules.validate_device.output.stats, model=wildcards.model
        )[0],
    }
    for recipe in RECIPES:
        outputs = {"recipe": recipe, "model": wildcards.model}
        files[f"cvimodel_{recipe}"] = expand(
            rules.quantize_candidate.output.cvimodel, **outputs
        )[0]
        files[f"report_{recipe}"] = expand(
            rules.quantize_candidate.output.report, **outputs
        )[0]
        files[f"metrics_{recipe}"] = expand(
            rules.validate_candidate.output.metrics, **outputs
        )[0]
        files[f"stats_{recipe}"] = expand(
            rules.validate_candidate.output.stats, **outputs
        )[0]
    return files


def val_shard(wildcards):
    """(index, count) of a shard of val images, from Snakemake's `{scatteritem}` ("2-of-4")."""
    number, count = wildcards.scatteritem.split("-of-")
    return [int(number) - 1, int(count)]
