"""A bad config stops Snakemake before any job runs, with one line naming the key (and the file).

Every fault is checked against `config_faults` on the config as Snakemake merges it (the
command line's file over config/config.yaml); a few go through Snakemake itself, which shows
the same lines for every fault, so each kind of check (schema, files, names) is seen there."""

import copy

import pytest
import yaml
from posepipe.config_check import config_faults
from snakemake.utils import update_config
from support.config_faults import FAULTS, with_change, write_dataset_files
from support.paths import REPO
from support.runs import tiny_config

SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())


def merged_by_snakemake(config: dict) -> dict:
    """What the Snakefile's `config` holds with `--configfile` naming this config."""
    merged = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    update_config(merged, copy.deepcopy(config))
    return merged


def test_the_tests_config_has_no_fault(tmp_path):
    assert config_faults(merged_by_snakemake(tiny_config()), SCHEMA, tmp_path) == []


@pytest.mark.parametrize(("change", "expected"), FAULTS)
def test_config_fault_is_one_line_naming_its_key(tmp_path, change, expected):
    write_dataset_files(tmp_path)
    faults = config_faults(merged_by_snakemake(with_change(change)), SCHEMA, tmp_path)
    assert [fault for fault in faults if expected in fault], faults
    assert all("\n" not in fault for fault in faults), faults
