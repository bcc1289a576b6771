"""A bad config stops Snakemake before any job runs, with one line naming the key (and the file).

Every fault is checked against `config_faults` on the config as Snakemake merges it (the
command line's file over config/config.yaml); a few go through Snakemake itself, which shows
the same lines for every fault, so each kind of check (schema, files, names) is seen there."""

import pytest
from support.config_faults import FAULTS, with_change, write_dataset_files
from support.runs import run_snakemake

THROUGH_SNAKEMAKE = [
    fault for fault in FAULTS if fault.id in ("unknown-key", "missing-annotations", "hostile-model-name")
]


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
