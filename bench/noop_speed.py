"""No-op speed: Snakemake on a finished workflow (nothing to do) against a trivial one-rule
Snakefile's no-op, measured in the same run.

Usage: python bench/noop_speed.py --workdir DIR [--configfile FILE] [--target T] [--repeat R]
DIR must hold a finished run of the target (e.g. the demo: `make run`, or bench/demo_quality.py).
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SNAKEFILE = REPO / "workflow" / "Snakefile"
TRIVIAL = 'rule all:\n    input: "done.txt"\n\nrule make:\n    output: "done.txt"\n    shell: "touch {output}"\n'


def best_time(command: list[str], cwd: Path, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
        times.append(time.perf_counter() - began)
        if result.returncode != 0 or "Nothing to be done" not in result.stdout + result.stderr:
            raise SystemExit(f"not a no-op run in {cwd}:\n{result.stderr[-2000:]}")
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--configfile", type=Path, default=REPO / "config" / "config.yaml")
    parser.add_argument("--target", default="all")
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    snakemake = [sys.executable, "-m", "snakemake", "--cores", "1"]
    trivial = Path(tempfile.mkdtemp(prefix="posepipe-noop-"))
    (trivial / "Snakefile").write_text(TRIVIAL)
    subprocess.run([*snakemake], cwd=trivial, check=True, capture_output=True)
    ours = best_time(
        [*snakemake, options.target, "--snakefile", str(SNAKEFILE), "--configfile", str(options.configfile)],
        options.workdir,
        options.repeat,
    )
    baseline = best_time(snakemake, trivial, options.repeat)
    print(f"no-op of {options.target}: {ours:.2f} s; trivial one-rule Snakefile: {baseline:.2f} s")
    print(f"(best of {options.repeat} runs each)")
    print(f"ratio: {ours / baseline:.2f}x (goal: <= 2 s and <= 1.5x)")


if __name__ == "__main__":
    main()
