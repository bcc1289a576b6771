"""The configuration, checked before any job runs: every schema fault and every missing input
file as one line that names the key, instead of jsonschema's dump of the schema and instance."""

import re
from pathlib import Path

from jsonschema import Draft202012Validator

from posepipe.dataset.sources import dataset_inputs
from posepipe.device.input_contract import contract_faults
from posepipe.evaluation.search import search_faults, search_points

# Dataset paths under results/ are produced by the workflow itself (the demo data).
WORKFLOW_OUTPUTS = "results/"
# keys of earlier releases, and what took their place
REPLACED_KEYS = {
    "quantize.precision": "replaced by quantize.recipes (a recipe with precision: BF16)",
    "quantize.bf16_fallback": "replaced by quantize.recipes and max_accuracy_drop: the shipped cvimodel is "
    "the cheapest recipe within the accuracy gate",
}


def key_path(parts) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".") or "(top level)"


def describe(error) -> str:
    where = key_path(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(known))
        replaced = [REPLACED_KEYS[f"{where}.{key}"] for key in unknown if f"{where}.{key}" in REPLACED_KEYS]
        if replaced:
            return f"{where}: {', '.join(map(repr, unknown))}: {'; '.join(replaced)}"
        return f"{where}: unknown key {', '.join(map(repr, unknown))} (known keys: {', '.join(known)})"
    if error.validator in ("oneOf", "anyOf") and "forms" in error.schema:
        given = ", ".join(sorted(error.instance)) if isinstance(error.instance, dict) else repr(error.instance)
        return f"{where}: {error.schema['forms']} (given: {given})"
    hint = error.schema.get("description") if error.validator in ("pattern", "multipleOf") else None
    return f"{where}: {error.message}" + (f" ({hint})" if hint else "")


def schema_errors(config: dict, schema: dict) -> list[str]:
    errors = Draft202012Validator(schema).iter_errors(config)
    return [describe(e) for e in sorted(errors, key=lambda e: [str(p) for p in e.absolute_path])]


def missing_files(config: dict, workdir: Path) -> list[str]:
    """Inputs named by the config that are not there (relative paths are from the working folder)."""
    wanted = [
        (f"datasets.{name}.{file.key}", file.path, file.is_dir)
        for name, dataset in config.get("datasets", {}).items()
        for file in dataset_inputs(dataset, workdir)
    ]
    for name, model in config.get("models", {}).items():
        if model["architecture"].endswith(".pt"):
            wanted.append((f"models.{name}.architecture", model["architecture"], False))
    for name, search in config.get("searches", {}).items():
        weights = {point["architecture"] for point in search_points(name, search).values()}
        wanted += [(f"searches.{name}.architectures", path, False) for path in sorted(weights) if path.endswith(".pt")]
    faults = []
    for key, path, is_dir in wanted:
        if path.startswith(WORKFLOW_OUTPUTS):
            continue
        found = Path(workdir, path).expanduser()
        if not (found.is_dir() if is_dir else found.is_file()):
            faults.append(f"{key}: {'folder' if is_dir else 'file'} '{path}' does not exist")
    return faults


def unknown_datasets(config: dict) -> list[str]:
    datasets = config.get("datasets", {})
    return [
        f"models.{name}.dataset: '{model['dataset']}' is not one of datasets: {', '.join(datasets)}"
        for name, model in config.get("models", {}).items()
        if model["dataset"] not in datasets
    ]


def split_group_faults(config: dict) -> list[str]:
    """A split_group that is no regular expression, named before any job."""
    faults = []
    for name, dataset in config.get("datasets", {}).items():
        if (group := dataset.get("split_group")) is not None:
            try:
                re.compile(group)
            except re.error as error:
                faults.append(f"datasets.{name}.split_group: not a regular expression ({error})")
    return faults


def recipe_faults(config: dict) -> list[str]:
    """What the schema cannot say about quantize.recipes: unique names, and choices that fit."""
    faults, seen = [], set()
    for index, recipe in enumerate(config.get("quantize", {}).get("recipes", [])):
        where = f"quantize.recipes[{index}]"
        if recipe["name"] in seen:
            faults.append(f"{where}.name: '{recipe['name']}' is used by an earlier recipe")
        seen.add(recipe["name"])
        layers = recipe.get("bf16_layers", "none")
        if recipe.get("precision") == "BF16" and (layers != "none" or "calibration" in recipe):
            faults.append(f"{where}: precision BF16 is BF16 throughout: no calibration nor bf16_layers")
        if "head_from" in recipe and layers != "head":
            faults.append(f"{where}.head_from: only used with bf16_layers: head")
    return faults


def config_faults(config: dict, schema: dict, workdir: Path) -> list[str]:
    """Schema faults first; references and files are only looked at in a config of the right shape."""
    return schema_errors(config, schema) or (
        unknown_datasets(config)
        + search_faults(config)
        + split_group_faults(config)
        + recipe_faults(config)
        + contract_faults(config.get("quantize", {}))
        + missing_files(config, workdir)
    )
