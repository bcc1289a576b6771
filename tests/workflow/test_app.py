"""The MaixPy app: main.py drawing the dataset's own skeleton (run against a recording test
double of the `maix` API), and the real `maixtool release` building the installable zip."""

import json
import zipfile
from pathlib import Path

import pytest
import yaml
from support.paths import POSEPIPE_VERSION
from support.runs import offline_env, run_snakemake, small_model_config


@pytest.fixture(scope="module")
def app_built(trained) -> Path:
    """The trained small model's app, through the real maixtool (its environment is installed
    from PyPI once per machine, before the offline run)."""
    run_snakemake(trained, small_model_config(), "maixtool_venv")
    run_snakemake(trained, small_model_config(), "results/small_app", env=offline_env(trained))
    return trained / "results" / "small_app"


def test_maixtool_release_builds_the_installable_zip(app_built, trained):
    info = yaml.safe_load((app_built / "app.yaml").read_text())
    assert info["id"] == "posepipe_small" and info["version"] == POSEPIPE_VERSION and info["author"] == "posepipe"
    assert info["files"] == ["main.py", "small.cvimodel", "small.mud"]
    archive = app_built / "dist" / f"posepipe_small_v{POSEPIPE_VERSION}.zip"
    with zipfile.ZipFile(archive) as z:
        names = z.namelist()
        assert sorted(names) == names and set(names) == {
            f"posepipe_small/{name}" for name in ("app.yaml", "main.py", "small.cvimodel", "small.mud")
        }
        cvimodel = (trained / "results" / "small.cvimodel").read_bytes()
        assert z.read("posepipe_small/small.cvimodel") == cvimodel
        main = z.read("posepipe_small/main.py").decode()
    assert "nn.YOLOv8(" in main and "SKELETON = [(15, 13), (13, 11)" in main  # the demo's COCO skeleton, 0-based
    metrics = json.loads((trained / "results" / "small" / "metrics.json").read_text())
    shipped = metrics["cvimodel"]["thresholds"]
    assert f"KEYPOINT_TH = {shipped['keypoint_th']!r}  #" in main and f"CONF_TH = {shipped['conf_th']!r}  #" in main
    assert sorted(p.name for p in (app_built / "dist").iterdir()) == [archive.name]


def test_the_app_zip_is_byte_identical_across_builds(app_built, trained):
    archive = app_built / "dist" / f"posepipe_small_v{POSEPIPE_VERSION}.zip"
    first = archive.read_bytes()
    run_snakemake(trained, small_model_config(), "results/small_app", extra=["--forcerun", "app"])
    assert archive.read_bytes() == first
