import re

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, schema="../schemas/config.schema.yaml")

with open(workflow.source_path("../schemas/config.schema.yaml")) as schema_file:
    SCHEMA = yaml.safe_load(schema_file)


def with_defaults(entry, definition):
    """The entry with the schema's defaults filled in (validate() fills top-level ones only)."""
    properties = SCHEMA["$defs"][definition]["properties"]
    defaults = {
        key: spec["default"] for key, spec in properties.items() if "default" in spec
    }
    return {**defaults, **entry}


DATASETS = config["datasets"]
MODELS = {
    name: with_defaults(entry, "model") for name, entry in config["models"].items()
}

for model_name, model in MODELS.items():
    if model["dataset"] not in DATASETS:
        raise WorkflowError(
            f"config: models: {model_name}: dataset '{model['dataset']}' is not one of datasets: "
            f"{', '.join(DATASETS)}"
        )


def alternatives(names):
    return "|".join(re.escape(name) for name in names)


wildcard_constraints:
    dataset=alternatives(DATASETS),
    model=alternatives(MODELS),


def dataset_inputs(wildcards):
    """The COCO JSON and image folder of each split of a dataset, as named rule inputs."""
    dataset = DATASETS[wildcards.dataset]
    return {
        f"{split}_{kind}": dataset[split][key]
        for split in ("train", "val")
        for kind, key in (("json", "annotations"), ("images", "images"))
    }


def final_targets():
    return expand(
        "results/datasets/{dataset}",
        dataset=sorted({m["dataset"] for m in MODELS.values()}),
    )
