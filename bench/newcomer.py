"""What a newcomer waits for: the README's first command (`make run`) in a fresh clone, timed.

Usage: .venv/bin/python bench/newcomer.py [--root DIR] [--keep]

Clones this checkout (its committed HEAD) into a new folder under --root and runs `make run`
there twice: first with a new, empty environment folder (POSEPIPE_VENV_ROOT, so the main venv
and the TPU-MLIR venv are built from scratch), then in a second fresh clone with those
environments already built. Prints, for each run, the wall time of every phase: the main venv
build (make), each Snakemake job (from its log: start and finish stamps, to the second, with
the jobs that ran at the same time overlapping), and the total; then the demo's metrics and
its quantization candidates.
Goals on a 2-core machine: fresh <= 10 min, environments built <= 6 min, pose mAP50 >= 0.5.
The environments (about 13 GB) are deleted at the end unless --keep.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "workflow"))
STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
STARTED = re.compile(r"^(?:local)?rule (\w+):$")
JOBID = re.compile(r"^\s+jobid: (\d+)$")
FINISHED = re.compile(r"^Finished jobid: (\d+) \(Rule: (\w+)\)$")
RECIPE = re.compile(r"^\s+wildcards: .*\brecipe=([\w.-]+)")


def job_times(log: str) -> list[tuple[str, datetime, datetime]]:
    """(rule, start, end) of every job in a Snakemake log, in start order; a quantization
    recipe's jobs are named `rule[recipe]`."""
    stamp, pending, last_job, started, jobs = None, None, None, {}, []
    for line in log.splitlines():
        if match := STAMP.match(line):
            stamp = datetime.strptime(match.group(1), "%a %b %d %H:%M:%S %Y")
        elif match := STARTED.match(line):
            pending = (match.group(1), stamp)
        elif (match := JOBID.match(line)) and pending:
            last_job = match.group(1)
            started[last_job] = pending
            pending = None
        elif (match := RECIPE.match(line)) and last_job in started:
            rule, start = started[last_job]
            started[last_job] = (f"{rule}[{match.group(1)}]", start)
        elif match := FINISHED.match(line):
            rule, start = started.pop(match.group(1))
            jobs.append((rule, start, stamp))
    return sorted(jobs, key=lambda job: job[1])


def timed_run(clone: Path, env: dict) -> dict:
    """`make venv` then `make run` in `clone`; phase times in seconds."""
    began = time.perf_counter()
    subprocess.run(["make", "venv"], cwd=clone, env=env, check=True, stdout=subprocess.DEVNULL)
    venv_seconds = time.perf_counter() - began
    run = subprocess.run(["make", "run"], cwd=clone, env=env, capture_output=True, text=True)
    total = time.perf_counter() - began
    if run.returncode != 0:
        raise SystemExit(f"make run failed in {clone}:\n{run.stderr[-3000:]}")
    logs = sorted((clone / ".snakemake" / "log").glob("*.snakemake.log"))
    jobs = job_times(logs[-1].read_text())
    return {"main venv (make venv)": venv_seconds, "jobs": jobs, "total": total}


def show(title: str, result: dict) -> None:
    print(f"\n{title}")
    print(f"  {'main venv (make venv)':<34} {result['main venv (make venv)']:>7.0f} s")
    if result["jobs"]:
        origin = result["jobs"][0][1]
        for rule, start, end in result["jobs"]:
            offset = (start - origin).total_seconds()
            print(f"  {rule:<34} {(end - start).total_seconds():>7.0f} s   (from +{offset:.0f} s)")
    print(f"  {'total (make venv + make run)':<34} {result['total']:>7.0f} s = {result['total'] / 60:.1f} min")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=tempfile.gettempdir(), help="where the clones and environments go")
    parser.add_argument("--keep", action="store_true", help="keep the environments built")
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="posepipe-newcomer-", dir=options.root))
    env = {**os.environ, "POSEPIPE_VENV_ROOT": str(work / "envs")}
    try:
        results = {}
        for name in ("fresh", "environments built"):
            clone = work / name.replace(" ", "-")
            subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
            results[name] = timed_run(clone, env)
            show(f"{name}: {clone}", results[name])
        metrics = json.loads((clone / "results" / "yolov8n_pose" / "metrics.json").read_text())
        for source in ("pt", "device_float", "cvimodel"):
            figures = metrics[source]
            print(f"  {source:<14} box mAP50 {figures['box']['mAP50']:.3f}  pose mAP50 {figures['pose']['mAP50']:.3f}")
        from posepipe.evaluation.selection import table_line

        print("\nquantization candidates (pose mAP50-95 on the simulator, device-decoded; cost: BF16 share)")
        for row in metrics["quantization"]["candidates"]:
            chosen = " (shipped)" if row["recipe"] == metrics["quantization"]["chosen"] else ""
            print(f"  {table_line(row)}{chosen}")
        fresh, built = (results[n]["total"] / 60 for n in ("fresh", "environments built"))
        print(f"\ngoals: fresh {fresh:.1f} min (<= 10), environments built {built:.1f} min (<= 6)")
    finally:
        if not options.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
