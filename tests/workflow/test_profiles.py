"""The workflow profile (profiles/default) and the example PBS profile (profiles/pbs).

No PBS server can be installed here (Debian ships none), so the PBS profile is run through the
real cluster-generic executor against a test double of `qsub`/`qstat` (QSUB_STUB and QSTAT_STUB
below, written into each test's folder): it records the submission line and runs the job script
on this machine. That checks what the profile controls: the options parse, resources expand to a
valid qsub line, status.sh reads qstat's answers, and the jobs' outputs appear."""

import os
import stat
from pathlib import Path

from support.paths import REPO
from support.runs import run_snakemake, tiny_config

QSUB_STUB = """#!/usr/bin/env bash
# TEST DOUBLE of PBS qsub: logs its argv, runs the job script here, remembers the exit code.
set -u
dir="$(dirname "$0")"
id=$(( $(ls "$dir"/jobs 2>/dev/null | wc -l) + 1 ))
mkdir -p "$dir/jobs"
printf '%s\\n' "$*" > "$dir/jobs/$id.argv"
bash "${@: -1}" > "$dir/jobs/$id.out" 2>&1
echo $? > "$dir/jobs/$id.rc"
echo "$id.stub-server"
"""
QSTAT_STUB = """#!/usr/bin/env bash
# TEST DOUBLE of PBS `qstat -x -f ID`: a finished job with the exit code the qsub stub recorded.
set -u
id="${3%%.*}"
rc=$(cat "$(dirname "$0")/jobs/$id.rc")
printf 'Job Id: %s\\n    job_state = F\\n    Exit_status = %s\\n' "$3" "$rc"
"""


def test_the_workflow_profile_is_loaded_by_every_run(tmp_path):
    result = run_snakemake(tmp_path, tiny_config(), "results/datasets/demo", extra=["--dry-run"])
    assert "workflow specific profile" in result.stdout + result.stderr
    assert "profiles/default" in result.stdout + result.stderr


def make_stubs(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for name, text in (("qsub", QSUB_STUB), ("qstat", QSTAT_STUB)):
        (folder / name).write_text(text)
        (folder / name).chmod((folder / name).stat().st_mode | stat.S_IEXEC)
    return folder


def test_pbs_profile_submits_each_job_with_its_resources(tmp_path):
    stubs = make_stubs(tmp_path / "pbs-stub")
    result = run_snakemake(
        tmp_path / "work",
        tiny_config(),
        "results/datasets/demo",
        # the stub answers at once: poll every second (Snakemake's 10 s suits a real scheduler)
        extra=["--profile", str(REPO / "profiles" / "pbs"), "--cluster-generic-status-cmd",
               str(REPO / "profiles" / "pbs" / "status.sh"), "--jobs", "1", "--seconds-between-status-checks", "1"],
        env={"PATH": f"{stubs}{os.pathsep}{os.environ['PATH']}"},
    )  # fmt: skip
    submissions = sorted((stubs / "jobs").glob("*.argv"))
    lines = [p.read_text() for p in submissions]
    assert len(lines) == 2, result.stdout + result.stderr  # demo data, then conversion
    by_rule = {line.split("-N smk.")[1].split()[0]: line for line in lines}
    for rule, threads in (("demo_dataset", 1), ("convert", 2)):
        assert f"-q workq -l select=1:ncpus={threads}:mem=2000mb:ngpus=0 -l walltime=30:00 -j oe" in by_rule[rule]
    assert {p.read_text().strip() for p in (stubs / "jobs").glob("*.rc")} == {"0"}
    assert (tmp_path / "work" / "results" / "datasets" / "demo" / "data.yaml").is_file()
