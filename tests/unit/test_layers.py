"""The package's layers, read from its imports: a module imports only its own layer and those
below it (posepipe.LAYERS), config_check sits above them all, and no two modules import each
other."""

import ast
import re
import shutil
from pathlib import Path

import pytest
from posepipe import LAYERS

PACKAGE = Path(__file__).resolve().parents[2] / "workflow" / "posepipe"
TOP = len(LAYERS)  # config_check and the package's own __init__: above every layer


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(package: Path = PACKAGE) -> dict[str, Path]:
    """Every module of the package; guest/ holds a script run inside TPU-MLIR's Python, no module."""
    return {module_name(p, package): p for p in sorted(package.rglob("*.py")) if "guest" not in p.parts}


def imported(path: Path, known: set[str]) -> set[str]:
    """The posepipe modules a file imports, wherever in the file (a lazy import counts too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {f"{node.module}.{alias.name}" for alias in node.names} & known or {node.module}
    return {name for name in found if name in known and name != "posepipe"}


def layer_of(module: str) -> int:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) >= 2 and parts[1] in LAYERS else TOP


def faults(package: Path = PACKAGE) -> list[str]:
    """One line per import of a layer above the importer's own, and per pair that import each other."""
    found = modules(package)
    graph = {name: imported(path, set(found)) for name, path in found.items()}
    upward = [
        f"{name} ({LAYERS[layer_of(name)]}) imports {other}, a layer above"
        for name, others in graph.items()
        for other in sorted(others)
        if layer_of(other) > layer_of(name) and layer_of(name) < TOP
    ]
    mutual = [f"{a} and {b} import each other" for a in graph for b in graph[a] if a < b and a in graph[b]]
    return upward + mutual


def test_every_module_is_in_a_layer():
    loose = [name for name in modules() if layer_of(name) == TOP and name not in ("posepipe", "posepipe.config_check")]
    assert loose == []


def test_no_module_imports_a_layer_above_its_own_nor_one_that_imports_it():
    assert faults() == []


@pytest.mark.parametrize(
    ("module", "line", "fault"),
    [
        (
            "device/decoder.py",
            "from posepipe.evaluation import thresholds",
            "posepipe.device.decoder (device) imports posepipe.evaluation.thresholds, a layer above",
        ),
        (
            "infra/staging.py",
            "def later():\n    from posepipe.training.validate import summary",
            "posepipe.infra.staging (infra) imports posepipe.training.validate, a layer above",
        ),
        (
            "dataset/coco_json.py",
            "from posepipe.dataset.coco_records import check_images",
            "posepipe.dataset.coco_json and posepipe.dataset.coco_records import each other",
        ),
    ],
)
def test_a_planted_import_is_found(tmp_path, module, line, fault):
    """The check on a copy of the package with one import planted: it names exactly that one."""
    copy = tmp_path / "posepipe"
    shutil.copytree(PACKAGE, copy)
    planted = copy / module
    planted.write_text(planted.read_text() + f"\n\n{line}\n")
    assert faults(copy) == [fault]


def test_the_readme_table_names_every_module_and_the_guest_script():
    """README's "How it fits together" table says where each concern lives: every module is in it."""
    readme = (PACKAGE.parents[1] / "README.md").read_text()
    table = readme[readme.index("| stage | rule file |") :].split("\n\n")[0]
    named = set(re.findall(r"`([\w./]+)`", table))
    layers = {f"posepipe.{layer}" for layer in LAYERS} | {"posepipe"}
    unnamed = [name for name in modules() if name not in layers and name.removeprefix("posepipe.") not in named]
    guests = [p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("guest/*.py")]
    assert unnamed == [] and guests and set(guests) <= named
