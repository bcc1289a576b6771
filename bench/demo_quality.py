"""The default demo run, timed, with the accuracy it reaches.

Usage: python bench/demo_quality.py [--workdir DIR] [--cores N] [--target T]

Runs the default config (config/config.yaml) from scratch in a fresh working folder, through
validation of the .pt and of its ONNX export, and prints the wall time and the box and pose
mAP of both. The issue's bar: pose mAP50 >= 0.5 on the demo data.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, help="default: a new temporary folder")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--model", default="yolov8n_pose")
    options = parser.parse_args()
    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="posepipe-demo-"))
    target = f"results/{options.model}/metrics.json"
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
               "--configfile", str(REPO / "config" / "config.yaml"), "--cores", str(options.cores), target]  # fmt: skip
    began = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - began
    metrics = json.loads((workdir / target).read_text())
    print(f"demo run to {target} in {workdir}: {wall:.0f} s wall, {options.cores} cores")
    print(f"{'source':<12}" + "".join(f"{h:>14}" for h in ("box mAP50", "box mAP50-95", "pose mAP50", "pose mAP50-95")))
    for source in ("pt", "onnx", "device_float"):
        box, pose = metrics[source]["box"], metrics[source]["pose"]
        figures = (box["mAP50"], box["mAP50-95"], pose["mAP50"], pose["mAP50-95"])
        print(f"{source:<12}" + "".join(f"{value:>14.3f}" for value in figures))
    print(f"pose mAP50 of the .pt: {metrics['pt']['pose']['mAP50']:.3f} (bar: 0.5)")


if __name__ == "__main__":
    main()
