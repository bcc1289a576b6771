"""A bad config stops Snakemake before any job runs, with one line naming the key (and the file).

Every fault is checked against `config_faults` on the config as Snakemake merges it (the
command line's file over config/config.yaml); a few go through Snakemake itself, which shows
the same lines for every fault, so each kind of check (schema, files, names) is seen there."""

import copy

import pytest
import yaml
from conftest import REPO, run_snakemake, set_key, tiny_config
from posepipe.config_check import config_faults
from snakemake.utils import update_config

SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
TESTS = REPO / "tests"


def with_change(change) -> dict:
    config = copy.deepcopy(tiny_config())
    change(config)
    return config


def merged_by_snakemake(config: dict) -> dict:
    """What the Snakefile's `config` holds with `--configfile` naming this config."""
    merged = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    update_config(merged, copy.deepcopy(config))
    return merged


def external_dataset(annotations: str, images: str):
    def change(config):
        config["datasets"]["mine"] = {
            "train": {"annotations": annotations, "images": images},
            "val": {"annotations": annotations, "images": images},
        }
        config["models"]["tiny"]["dataset"] = "mine"

    return change


def write_dataset_files(workdir):
    (workdir / "data" / "images").mkdir(parents=True)
    (workdir / "data" / "ann.json").write_text("{}")


# a key set to a value: tests/config-faults.yaml; other changes here
FAULTS = [
    *(
        pytest.param(set_key(key.split("."), value), expected, id=fault)
        for fault, (key, value, expected) in yaml.safe_load((TESTS / "config-faults.yaml").read_text()).items()
    ),
    pytest.param(
        external_dataset("data/missing.json", "data/images"),
        "datasets.mine.train.annotations: file 'data/missing.json' does not exist",
        id="missing-annotations",
    ),
    pytest.param(
        external_dataset("data/ann.json", "data/no-such-folder"),
        "datasets.mine.train.images: folder 'data/no-such-folder' does not exist",
        id="missing-images-folder",
    ),
    pytest.param(
        lambda config: config["models"].update({"x;$(touch pwned)": config["models"].pop("tiny")}),
        "models: 'x;$(touch pwned)' does not match",
        id="hostile-model-name",
    ),
]

THROUGH_SNAKEMAKE = [
    fault for fault in FAULTS if fault.id in ("unknown-key", "missing-annotations", "hostile-model-name")
]


def test_the_tests_config_has_no_fault(tmp_path):
    assert config_faults(merged_by_snakemake(tiny_config()), SCHEMA, tmp_path) == []


@pytest.mark.parametrize(("change", "expected"), FAULTS)
def test_config_fault_is_one_line_naming_its_key(tmp_path, change, expected):
    write_dataset_files(tmp_path)
    faults = config_faults(merged_by_snakemake(with_change(change)), SCHEMA, tmp_path)
    assert [fault for fault in faults if expected in fault], faults
    assert all("\n" not in fault for fault in faults), faults


@pytest.mark.parametrize(("change", "expected"), THROUGH_SNAKEMAKE)
def test_config_fault_is_named_before_any_job_runs(tmp_path, change, expected):
    write_dataset_files(tmp_path)
    result = run_snakemake(tmp_path, with_change(change), extra=["--dry-run"], check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert f"config ({tmp_path / 'test-config.yaml'}):" in output
    assert expected in output, output[-2000:]
    assert "Traceback" not in output and "On instance" not in output
    assert not (tmp_path / "results").exists() and not (tmp_path / "pwned").exists()
