"""A 2-point search's trainings side by side against one point alone: the wall time of each, and
their ratio, measured one after the other in the same run on this machine.

Usage: .venv/bin/python bench/search_speed.py [--epochs 10] [--cores N] [--keep]

Both runs train the demo dataset (generated and converted once, before the clocks start) from
the model YAML at the demo's 160x224 and at 224x160 (both train square at 224: the same cost),
in fresh working folders with the demo
config and a search in place of its model. One point alone trains on the 2 threads a lone model
takes; two points given --cores N each train on N/2 (at least 1). A ratio of 2.0 means running
them side by side gained nothing over one after the other; 1.0, that the second came for free.
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
SNAKEFILE = REPO / "workflow" / "Snakefile"
# two points of one cost: training runs square at the longer side (224 for both)
POINTS = {"yolov8n-pose_160x224": [160, 224], "yolov8n-pose_224x160": [224, 160]}


def search_config(sizes: list[list[int]], epochs: int) -> dict:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    model = config.pop("models")["yolov8n_pose"]
    config["searches"] = {
        "bench": {"dataset": model["dataset"], "architectures": [model["architecture"]], "imgsz": sizes,
                  "epochs": epochs, "target_fps": 30}
    }  # fmt: skip
    return config


def snakemake(workdir: Path, config: dict, targets: list[str], cores: int) -> float:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE), "--directory", str(workdir),
               "--configfile", str(workdir / "config.yaml"), "--cores", str(cores), *targets]  # fmt: skip
    started = time.monotonic()
    subprocess.run(command, check=True, capture_output=True)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the working folders")
    options = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="posepipe-search-speed-"))
    try:
        times = {}
        for layout, names in (("one point alone", list(POINTS)[:1]), ("two points", list(POINTS))):
            workdir = root / layout.replace(" ", "-")
            config = search_config([POINTS[name] for name in names], options.epochs)
            snakemake(workdir, config, ["results/datasets/demo"], options.cores)  # not timed: shared work
            weights = [f"results/bench.{name}/train/best.pt" for name in names]
            times[layout] = snakemake(workdir, config, weights, options.cores)
            print(f"{layout:16s} {times[layout]:7.1f} s  ({', '.join(names)}, --cores {options.cores})", flush=True)
        print(f"ratio            {times['two points'] / times['one point alone']:7.2f}  (two points / one point alone)")
    finally:
        if not options.keep:
            shutil.rmtree(root)


if __name__ == "__main__":
    main()
