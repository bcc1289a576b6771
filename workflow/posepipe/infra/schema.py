"""The config schema (workflow/schemas/config.schema.yaml): the one home of every default and
allowed value, and the one function that fills an entry's defaults from it."""

import functools
from pathlib import Path

import yaml

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schemas" / "config.schema.yaml"


@functools.cache
def read_schema(path: Path = SCHEMA_FILE) -> dict:
    # libyaml's loader where PyYAML has it: every Snakemake start reads the schema, a tenth of a
    # second in the pure-Python one
    return yaml.load(Path(path).read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def defaults(definition: str, schema: dict | None = None) -> dict:
    """The default of every key of `$defs/<definition>` that has one."""
    properties = (schema or read_schema())["$defs"][definition]["properties"]
    return {key: spec["default"] for key, spec in properties.items() if "default" in spec}


def with_defaults(entry: dict, definition: str, schema: dict | None = None) -> dict:
    """The entry with the schema's defaults of `$defs/<definition>` filled in: Snakemake's
    validate() fills defaults only where a property's own schema holds one, not through $ref."""
    return {**defaults(definition, schema), **entry}
