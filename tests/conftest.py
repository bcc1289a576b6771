"""The suite's hooks (which tests are slow, which share a worker) and the data fixtures every
kind of test may take; the workflow fixtures (a trained model, two builds) are
tests/workflow/conftest.py's."""

import ast
import functools
import inspect
import json
import textwrap
from pathlib import Path

import pytest
from support.parts import require
from support.paths import COCO_REAL


@pytest.fixture
def coco_real() -> Path:
    """The four real COCO photos; a user's clone has no ../shared, so tests skip there."""
    require("shared-photos")
    return COCO_REAL


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory) -> dict[str, dict[str, Path]]:
    """A small demo dataset (8 train, 4 val images), generated once per test session."""
    from posepipe.dataset import demo

    root = tmp_path_factory.mktemp("demo")
    splits = {"train": 8, "val": 4}
    files = {split: root / "annotations" / f"{split}.json" for split in splits}
    folders = {split: root / "images" / split for split in splits}
    demo.generate(3, splits, 320, 240, files, folders)
    return {split: {"annotations": files[split], "images": folders[split]} for split in splits}


@pytest.fixture(scope="session")
def demo_export(tmp_path_factory) -> dict[str, Path]:
    """The demo's 12 images as a labelling tool exports them: one JSON of every image, one folder."""
    from posepipe.dataset import demo

    root = tmp_path_factory.mktemp("export")
    demo.generate(3, {"all": 12}, 320, 240, {"all": root / "export.json"}, {"all": root / "images"})
    return {"annotations": root / "export.json", "images": root / "images"}


# A workflow run that trains a model or runs TPU-MLIR takes minutes. A fixture whose body makes
# one is slow, and so is every test that takes it, directly or through other fixtures: found
# from the fixture graph, so that a new fixture of that kind cannot slip into `make test-fast`.
WORKFLOW_RUNS = frozenset({"run_snakemake", "build_trained_candidate"})


@functools.cache
def _makes_a_workflow_run(function) -> bool:
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError):  # no source: not one of this suite's fixtures
        return False
    called = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    return bool(called & WORKFLOW_RUNS)


# `make test` runs a worker per core (pytest-xdist), and each worker builds the session fixtures
# its tests take. So the tests that take one of these costly builds form one scope, run by one
# worker; the others are scoped by file, whose module fixtures are then built once. xdist's own
# `xdist_group` mark cannot do this under pytest 9 (it rewrites node ids, which pytest 9 derives),
# so the workers, which collect, write each test's scope into the run's base folder and the
# controller's scheduler for `--dist loadscope` reads it there.
SHARED_BUILDS = ("trained", "built_twice")


def _scope(item: pytest.Item) -> str:
    return next((name for name in SHARED_BUILDS if name in item.fixturenames), str(item.path))


def pytest_collection_modifyitems(config, items):
    for item in items:
        definitions = item._fixtureinfo.name2fixturedefs.values()
        if any(_makes_a_workflow_run(d.func) for defs in definitions for d in defs):
            item.add_marker(pytest.mark.slow)
    if hasattr(config, "workerinput"):
        scopes = json.dumps({item.nodeid: _scope(item) for item in items})
        run_folder = config._tmp_path_factory.getbasetemp().parent  # the controller's base folder
        (run_folder / f"scopes-{config.workerinput['workerid']}.json").write_text(scopes)


@pytest.hookimpl(optionalhook=True)  # a run without xdist (`-p no:xdist`) has no such hook
def pytest_xdist_make_scheduler(config, log):
    if config.getoption("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    run_folder = config._tmp_path_factory.getbasetemp()

    class BySharedBuild(LoadScopeScheduling):
        """xdist's scopes, as the workers found them (_scope); called once collection is complete."""

        @functools.cached_property
        def scopes(self) -> dict[str, str]:
            return json.loads(min(run_folder.glob("scopes-*.json")).read_text())

        def _split_scope(self, nodeid: str) -> str:
            return self.scopes[nodeid]

    return BySharedBuild(config, log)


def pytest_configure(config):
    """Ultralytics offline, with its settings in a folder of the test run, never in $HOME."""
    from posepipe.training.ultralytics_env import prepare

    prepare(Path(config.rootpath) / ".pytest_cache" / "ultralytics")
