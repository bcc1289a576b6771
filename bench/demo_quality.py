"""The default demo run, timed, with the accuracy it reaches, for several training seeds.

Usage: python bench/demo_quality.py [--seeds 0 1 2] [--cores N] [--model M]

Runs the default config (config/config.yaml) from scratch in a fresh working folder per seed
(models.<model>.seed replaced), through validation of the .pt, its ONNX export and the device
decode, and prints the wall time and the box and pose mAP of each. CPU training is not
bit-identical across processor types, so one seed's figure says little about another machine;
the bar is on every seed: pose mAP50 >= 0.5 on the demo data.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
SNAKEFILE = REPO / "workflow" / "Snakefile"
BAR = 0.5


def run_seed(seed: int, model: str, cores: int) -> tuple[dict, float]:
    workdir = Path(tempfile.mkdtemp(prefix=f"posepipe-demo-seed{seed}-"))
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["models"][model]["seed"] = seed
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    target = f"results/{model}/metrics/device_float.json"
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE), "--directory", str(workdir),
               "--configfile", str(workdir / "config.yaml"), "--cores", str(cores), target,
               f"results/{model}/metrics/pt.json", f"results/{model}/metrics/onnx.json"]  # fmt: skip
    began = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - began
    metrics = {
        s: json.loads((workdir / f"results/{model}/metrics/{s}.json").read_text())
        for s in ("pt", "onnx", "device_float")
    }
    print(f"seed {seed}: {workdir}, {wall:.0f} s wall to the three metrics, {cores} cores")
    return metrics, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--model", default="yolov8n_pose")
    options = parser.parse_args()
    header = f"{'seed':<6}{'source':<14}" + "".join(
        f"{h:>14}" for h in ("box mAP50", "box mAP50-95", "pose mAP50", "pose mAP50-95")
    )
    rows, poses = [], []
    for seed in options.seeds:
        metrics, _ = run_seed(seed, options.model, options.cores)
        for source, figures in metrics.items():
            box, pose = figures["box"], figures["pose"]
            values = (box["mAP50"], box["mAP50-95"], pose["mAP50"], pose["mAP50-95"])
            rows.append(f"{seed:<6}{source:<14}" + "".join(f"{value:>14.3f}" for value in values))
        poses.append(metrics["pt"]["pose"]["mAP50"])
    print(header, *rows, sep="\n")
    print("pose mAP50 of the .pt per seed: " + ", ".join(f"{p:.3f}" for p in poses) + f" (bar: each >= {BAR})")
    if min(poses) < BAR:
        raise SystemExit(f"a seed stays under the bar: {min(poses):.3f} < {BAR}")


if __name__ == "__main__":
    main()
