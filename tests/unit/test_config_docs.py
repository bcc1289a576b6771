"""config/README.md's tables against the schema, the one home of every default: each key of a
table is a key of the schema and each schema key is in its table, and a default the schema
holds is the one the table states."""

import json
import re
from pathlib import Path

import pytest
import yaml
from posepipe.infra.schema import read_schema

REPO = Path(__file__).resolve().parents[2]
SCHEMA = read_schema()
# each table of config/README.md (by its section, and its place there) and the schema object it documents
TABLES = {
    ("`demo`", 0): SCHEMA["properties"]["demo"],
    ("`datasets.<name>`", 0): SCHEMA["$defs"]["dataset"],
    ("`models.<name>`", 0): SCHEMA["$defs"]["model"],
    ("`searches.<name>`", 0): SCHEMA["$defs"]["search"],
    ("`quantize`", 0): SCHEMA["$defs"]["quantize"],
    ("`quantize`", 1): SCHEMA["$defs"]["recipe"],
    ("`app`", 0): SCHEMA["$defs"]["app"],
}


def readme_tables(text: str) -> dict[tuple[str, int], list[dict[str, str]]]:
    """Every table whose first column is `key`, as rows of {column: cell}, by (section, place)."""
    tables: dict[tuple[str, int], list[dict[str, str]]] = {}
    section, header, count = "", None, {}
    for line in text.splitlines():
        if line.startswith("## "):
            section, header = line[3:].split(":")[0].strip(), None
        elif line.startswith("| key |"):
            header = [cell.strip() for cell in line.strip("|").split("|")]
            place = count[section] = count.get(section, -1) + 1
            tables[(section, place)] = []
        elif header and line.startswith("| ") and not line.startswith("| ---"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            tables[(section, place)].append(dict(zip(header, cells)))
        elif not line.startswith("|"):
            header = None
    return tables


def documented_keys(row: dict[str, str]) -> list[str]:
    return re.findall(r"`([^`]+)`", row["key"])


def stated(value) -> str:
    """A default as the tables write it: YAML's flow form ([224, 320], null, true, auto)."""
    return json.dumps(value) if isinstance(value, list) else yaml.safe_dump(value).removesuffix("\n...\n").strip()


def expected_default(values: list) -> str:
    """What a row states of its keys' defaults: `name`s for a list of recipes, else each value."""
    if len(values) == 1 and isinstance(values[0], list) and values[0] and isinstance(values[0][0], dict):
        return ", ".join(f"`{entry['name']}`" for entry in values[0])
    return ", ".join(stated(value) for value in values)


TEXT = (REPO / "config" / "README.md").read_text()


@pytest.mark.parametrize("table", sorted(TABLES), ids=lambda t: f"{t[0]}-{t[1]}")
def test_a_table_names_exactly_the_keys_of_its_schema_object(table):
    properties = TABLES[table]["properties"]
    rows = readme_tables(TEXT)[table]
    named = {key.split(".")[0] for row in rows for key in documented_keys(row)}
    assert named == set(properties)


@pytest.mark.parametrize("table", sorted(TABLES), ids=lambda t: f"{t[0]}-{t[1]}")
def test_a_default_the_schema_holds_is_the_one_the_table_states(table):
    properties = TABLES[table]["properties"]
    wrong = []
    for row in readme_tables(TEXT)[table]:
        if "default" not in row:
            continue
        keys = [key for key in documented_keys(row) if "default" in properties.get(key, {})]
        if not keys:
            continue
        expected = expected_default([properties[key]["default"] for key in keys])
        if not row["default"].startswith(expected):
            wrong.append(f"{', '.join(keys)}: the table says {row['default']!r}, the schema {expected!r}")
    assert wrong == []
