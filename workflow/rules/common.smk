# The config (checked, defaults filled from the schema), the wildcards, and one-purpose input
# functions. A function that takes another rule's output is given it (`rules.<name>.output`) by
# the rule file that uses it, so this file names no rule.

import re
import tomllib

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

from posepipe.config_check import config_faults
from posepipe.dataset.sources import dataset_inputs as dataset_input_files
from posepipe.dataset.sources import is_one_export
from posepipe.dataset.split import settings_of as split_settings_of
from posepipe.device.speed import calibration as device_speed_calibration
from posepipe.evaluation.search import search_points
from posepipe.infra.schema import read_schema, with_defaults
from posepipe.training.export import OTHER_FORMATS, missing_package
from posepipe.training.validate import ULTRALYTICS_SOURCES

min_version("9.0")

SCHEMA = read_schema(workflow.source_path("../schemas/config.schema.yaml"))

# One line per fault, naming the key, before any job runs; then validate() fills the defaults.
if faults := config_faults(config, SCHEMA, Path.cwd()):
    raise WorkflowError(
        f"config ({', '.join(map(str, workflow.configfiles)) or 'no config file'}):\n"
        + "\n".join(faults)
    )
validate(config, schema="../schemas/config.schema.yaml")

# posepipe's release (pyproject.toml): recorded in provenance.json, the app's version by default
with open(workflow.source_path("../../pyproject.toml"), "rb") as pyproject:
    POSEPIPE_VERSION = tomllib.load(pyproject)["project"]["version"]

# a dataset given as one export gets the schema's split defaults; one given split keeps its entry
DATASETS = {
    name: with_defaults(entry, "dataset", SCHEMA) if is_one_export(entry) else entry
    for name, entry in config["datasets"].items()
}
# every search's points are models like those under `models:` (posepipe.evaluation.search)
SEARCHES = config.get("searches", {})
SEARCH_POINTS = {
    search: search_points(search, entry) for search, entry in SEARCHES.items()
}
MODELS = {
    name: with_defaults(entry, "model", SCHEMA)
    for name, entry in config.get("models", {}).items()
}
# the models built to their .mud and app by default (a search's points, only as far as its choice needs)
CONFIGURED_MODELS = list(MODELS)
MODELS |= {
    name: with_defaults(entry, "model", SCHEMA)
    for points in SEARCH_POINTS.values()
    for name, entry in points.items()
}

QUANTIZE = with_defaults(config.get("quantize", {}), "quantize", SCHEMA)
APP = with_defaults(config.get("app", {}), "app", SCHEMA)
APP["version"] = APP["version"] or POSEPIPE_VERSION
DEVICE_SPEED = device_speed_calibration()
# what scoring shares with the app: its iou_th, and conf_th / keypoint_th where the config pins them
APP_THRESHOLDS = {key: APP[key] for key in ("conf_th", "iou_th", "keypoint_th")}
# every recipe with the schema's defaults: what a candidate's rule gets, so that a change to
# one recipe reruns that candidate only
RECIPES = {
    recipe["name"]: with_defaults(recipe, "recipe", SCHEMA)
    for recipe in QUANTIZE["recipes"]
}

# Ultralytics' settings folder and font, inside the working directory (never in $HOME)
ULTRALYTICS_CONFIG = "results/.ultralytics"

# One file per source of the metrics table, each written by its own validation rule.
METRICS_JSON = "results/{model}/metrics/{source}.json"


def metrics_json(source):
    return METRICS_JSON.replace("{source}", source)


def alternatives(names):
    return "|".join(re.escape(name) for name in names)


wildcard_constraints:
    dataset=alternatives(DATASETS),
    model=alternatives(MODELS),
    search=alternatives(SEARCHES) or "(?!)",
    source=alternatives(ULTRALYTICS_SOURCES),
    recipe=alternatives(RECIPES),
    method=alternatives({recipe["calibration"] for recipe in RECIPES.values()}),
    format=alternatives(OTHER_FORMATS),


def dataset_inputs(wildcards):
    return dataset_files(wildcards.dataset)


def dataset_files(name):
    """The COCO JSON and image folder of each split of a dataset (or of its one export), and the
    second labelling of some of its images where the config names one, as named rule inputs.
    """
    return {
        file.name: file.path for file in dataset_input_files(DATASETS[name], Path.cwd())
    }


def export_split(wildcards):
    """How the `dataset` wildcard's one export is split; None for a dataset given split."""
    dataset = DATASETS[wildcards.dataset]
    return split_settings_of(dataset) if is_one_export(dataset) else None


def model_setting(key):
    """One setting of the model named by the `model` wildcard, as a param function."""
    return lambda wildcards: MODELS[wildcards.model][key]


# a model's training alone runs on this many threads: its bytes are reproducible with the same
# count (docs/reproducibility.md; machine.json records it)
TRAIN_THREADS = 2


def training_threads(wildcards):
    """A search's points share the cores a run is given, so that they train side by side (each
    on at least one thread, at most a lone model's TRAIN_THREADS); any other model takes TRAIN_THREADS.
    """
    points = next(
        (len(points) for points in SEARCH_POINTS.values() if wildcards.model in points),
        0,
    )
    if not points:
        return TRAIN_THREADS
    try:
        cores = workflow.cores
    except WorkflowError:  # no --cores (a cluster run): each point is a job of its own
        return TRAIN_THREADS
    return max(1, min(TRAIN_THREADS, cores // points))


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
    generated = any(
        path.startswith("results/demo/")
        for path in dataset_files(model["dataset"]).values()
    )
    return {
        "model": {key: value for key, value in model.items() if key != "device"},
        "dataset": dataset,
        "quantize": QUANTIZE,
        "demo": config["demo"] if generated else None,
    }


def val_shard(wildcards):
    """(index, count) of a shard of val images, from Snakemake's `{scatteritem}` ("2-of-4")."""
    number, count = wildcards.scatteritem.split("-of-")
    return [int(number) - 1, int(count)]


def of_model_dataset(converted):
    """An input function: `converted` (rule convert's output) for the `model` wildcard's dataset."""
    return lambda wildcards: expand(
        converted, dataset=MODELS[wildcards.model]["dataset"]
    )[0]


def weights_of_source(weights):
    """Rule validate's weights: of `weights` (source -> a rule's output), its `source`'s."""
    return lambda wildcards: expand(weights[wildcards.source], model=wildcards.model)[0]


def installed_format(weights):
    """Rule export_other's `weights`; a format whose package is not installed is refused while
    the DAG is built."""

    def checked(wildcards):
        if missing := missing_package(wildcards.format):
            raise WorkflowError(
                f"export format '{wildcards.format}' needs {missing}, which is not installed"
            )
        return expand(weights, model=wildcards.model)[0]

    return checked


def shared_calibration(table):
    """The calibration `table` (quantize_calibrate's output) a recipe takes, for INT8 without a
    search (a search calibrates itself)."""

    def calibration(wildcards):
        recipe = RECIPES[wildcards.recipe]
        if recipe["precision"] != "INT8" or recipe["bf16_layers"] == "search":
            return {}
        return {
            "calibration": expand(
                table, model=wildcards.model, method=recipe["calibration"]
            )[0]
        }

    return calibration


def candidate_files(reference, candidate, scored):
    """Every recipe's cvimodel and report (`candidate`: rule quantize_candidate's outputs), val
    metrics and per-image stats (`scored`: validate_candidate's), and the float model's metrics
    and stats they are held against (`reference`: validate_device's), as named inputs.
    """

    def files(wildcards):
        model = {"model": wildcards.model}
        named = {
            "reference": expand(reference.metrics, **model)[0],
            "reference_stats": expand(reference.stats, **model)[0],
        }
        for recipe in RECIPES:
            outputs = {"recipe": recipe, **model}
            named[f"cvimodel_{recipe}"] = expand(candidate.cvimodel, **outputs)[0]
            named[f"report_{recipe}"] = expand(candidate.report, **outputs)[0]
            named[f"metrics_{recipe}"] = expand(scored.metrics, **outputs)[0]
            named[f"stats_{recipe}"] = expand(scored.stats, **outputs)[0]
        return named

    return files


def search_candidates(report, cvimodel, metrics):
    """Of every point of the `search` wildcard's search, by its place there: its quantization
    report (`report`: select_cvimodel's), and each recipe's cvimodel (`cvimodel`:
    quantize_candidate's) and val metrics (`metrics`: validate_candidate's), as named inputs.
    """

    def files(wildcards):
        named = {}
        for index, point in enumerate(SEARCH_POINTS[wildcards.search]):
            named[f"report_{index}"] = expand(report, model=point)[0]
            for recipe in RECIPES:
                outputs = {"model": point, "recipe": recipe}
                named[f"cvimodel_{index}_{recipe}"] = expand(cvimodel, **outputs)[0]
                named[f"metrics_{index}_{recipe}"] = expand(metrics, **outputs)[0]
        return named

    return files


def search_point_files(**outputs):
    """Each of `outputs` (name -> a rule's output) for every point of the `search` wildcard's
    search, named `<name>_<place>`: the chosen point's are packaged."""

    def files(wildcards):
        return {
            f"{name}_{index}": expand(output, model=point)[0]
            for name, output in outputs.items()
            for index, point in enumerate(SEARCH_POINTS[wildcards.search])
        }

    return files


def search_setting(key):
    """One setting of the `search` wildcard's search (the schema's default where it has one)."""
    return lambda wildcards: with_defaults(
        SEARCHES[wildcards.search], "search", SCHEMA
    ).get(key)


def search_points_described(wildcards):
    """The search's points in order: name, architecture and input size."""
    return [
        {"name": name, "architecture": entry["architecture"], "imgsz": entry["imgsz"]}
        for name, entry in SEARCH_POINTS[wildcards.search].items()
    ]


def of_search_dataset(converted):
    """An input function: `converted` (rule convert's output) for the `search` wildcard's dataset."""
    return lambda wildcards: expand(
        converted, dataset=SEARCHES[wildcards.search]["dataset"]
    )[0]
