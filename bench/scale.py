"""How each stage's cost grows with the number of images: the demo at 1x, 4x and 16x its image
counts (and once at MaixCAM's 224x320), the workflow run up to the shipped cvimodel.

Usage: .venv/bin/python bench/scale.py [--factors 1 4 16] [--cores N] [--keep]

Each size runs in a fresh working folder with the default config scaled: the demo's train and
val image counts times the factor, one epoch of training (its cost is per epoch), and one
quantization recipe (int8: every recipe costs the same per val image in the simulator). The
workflow then runs stage by stage (`snakemake --until RULE`), each timed from outside: its wall
time less that of a Snakemake run with nothing to do (the start every run pays), and its peak
resident memory (the largest process of the run, Snakemake's own included: the no-op row shows
that floor). Prints, for every stage, the time at each size, the cost per image at the largest,
the peak memory, and the growth exponent k of time ~ n^k fitted over the sizes. Then the
candidate's simulation and scoring are redone at the largest size with one val shard and with
two, and their speed-up and whether metrics.json is the same bytes are printed.
"""

import argparse
import filecmp
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
SNAKEFILE = REPO / "workflow" / "Snakefile"
MODEL = "yolov8n_pose"
TARGET = f"results/{MODEL}/{MODEL}.cvimodel"
# the workflow's rules up to the shipped cvimodel, in the order they can run
STAGES = [
    "demo_dataset", "convert", "train", "export_onnx", "prune", "validate_device", "quantize_transform",
    "quantize_calibrate", "quantize_candidate", "simulate_candidate", "score_candidate_shard",
    "validate_candidate", "select_cvimodel",
]  # fmt: skip
# the stages whose work is the val split's images (the others: the train split, or neither)
PER_VAL_IMAGE = {"validate_device", "simulate_candidate", "score_candidate_shard", "validate_candidate"}
SCORING = ["simulate_candidate", "score_candidate_shard", "validate_candidate"]


def scaled_config(factor: int, imgsz: list[int] | None) -> dict:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["demo"]["train_images"] *= factor
    config["demo"]["val_images"] *= factor
    model = config["models"][MODEL]
    model["epochs"] = 1
    if imgsz:
        model["imgsz"] = imgsz
    config["models"] = {MODEL: model}
    config["quantize"]["recipes"] = [{"name": "int8"}]
    # one epoch learns little: the candidate ships whatever its accuracy, this measures cost
    config["quantize"]["if_none_within_gate"] = "most_accurate"
    return config


class Workflow:
    def __init__(self, workdir: Path, config: dict, cores: int):
        self.workdir, self.cores = workdir, cores
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))

    def run(self, *extra: str) -> tuple[float, float]:
        """One Snakemake run towards the shipped cvimodel: (wall seconds, peak MB of its processes)."""
        command = [
            sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE),
            "--directory", str(self.workdir), "--configfile", str(self.workdir / "config.yaml"),
            "--cores", str(self.cores), TARGET, *extra,
        ]  # fmt: skip
        log = open(self.workdir / "bench.log", "a")
        began = time.perf_counter()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        # the largest resident set among the run and every descendant it waited for
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - began
        if status != 0:
            raise SystemExit(f"snakemake {' '.join(extra)} failed; see {self.workdir / 'bench.log'}")
        return wall, usage.ru_maxrss / 1024


def measure(workflow: Workflow) -> dict:
    """Every stage's job time (wall less the no-op start) and peak memory, plus the no-op row."""
    workflow.run("--until", "tpu_mlir_venv")  # the shared TPU-MLIR environment: built once, not a stage
    rows = {stage: workflow.run("--until", stage) for stage in STAGES}
    noop = workflow.run()
    return {"noop": noop, **{stage: (max(wall - noop[0], 0.01), mb) for stage, (wall, mb) in rows.items()}}


def growth_exponent(sizes: list[int], times: list[float]) -> float:
    """Least-squares slope of log(time) on log(size)."""
    xs, ys = [math.log(s) for s in sizes], [math.log(t) for t in times]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def scoring_speedup(workflow: Workflow) -> tuple[float, float, bool]:
    """The candidate's simulation and scoring with one val shard, then with two: both walls and
    whether the two metrics.json are the same bytes."""
    metrics = workflow.workdir / f"results/{MODEL}/quantize/int8/metrics.json"
    one, _ = workflow.run("--set-scatter", "val_shards=1", "--until", "validate_candidate")
    kept = metrics.with_name("metrics-one-shard.json")
    shutil.copyfile(metrics, kept)
    two, _ = workflow.run(
        "--set-scatter", "val_shards=2", "--forcerun", "simulate_candidate", "--until", "validate_candidate"
    )
    return one, two, filecmp.cmp(kept, metrics, shallow=False)


def print_table(factors: list[int], runs: dict, images: dict) -> dict:
    largest = factors[-1]
    print(f"{'stage':<22}" + "".join(f"{f'{f}x s':>9}" for f in factors) + f"{'s/image':>9}{'peak MB':>9}{'k':>6}")
    exponents = {}
    for stage in ["noop", *STAGES]:
        times = [runs[f][stage][0] for f in factors]
        peak = max(runs[f][stage][1] for f in factors)
        split = "val" if stage in PER_VAL_IMAGE else "train"
        per_image = times[-1] / images[largest][split]
        exponents[stage] = growth_exponent(factors, times)
        name = "snakemake, nothing to do" if stage == "noop" else stage
        print(
            f"{name:<22}"
            + "".join(f"{t:>9.1f}" for t in times)
            + f"{per_image:>9.3f}{peak:>9.0f}{exponents[stage]:>6.2f}"
        )
    return exponents


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--factors", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--cores", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--keep", action="store_true", help="keep the working folders")
    options = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="posepipe-scale-"))
    runs, images = {}, {}
    try:
        for factor in options.factors:
            config = scaled_config(factor, None)
            images[factor] = {"train": config["demo"]["train_images"], "val": config["demo"]["val_images"]}
            workflow = Workflow(scratch / f"{factor}x", config, options.cores)
            runs[factor] = measure(workflow)
            print(f"{factor}x: {images[factor]['train']} train and {images[factor]['val']} val images measured",
                  file=sys.stderr)  # fmt: skip
        maixcam = measure(Workflow(scratch / "1x-224x320", scaled_config(1, [224, 320]), options.cores))
        one, two, same = scoring_speedup(workflow)

        model = scaled_config(1, None)["models"][MODEL]
        print(f"\n{MODEL} at {model['imgsz'][0]}x{model['imgsz'][1]}, one epoch, recipe int8, "
              f"{options.cores} cores; seconds are job time (wall less the no-op start)")  # fmt: skip
        exponents = print_table(options.factors, runs, images)
        print(f"\nat MaixCAM's 224x320 (1x), against {model['imgsz'][0]}x{model['imgsz'][1]}:")
        for stage in STAGES:
            small, large = runs[options.factors[0]][stage][0], maixcam[stage][0]
            print(f"  {stage:<22}{large:>8.1f} s {large / small:>6.2f}x  {maixcam[stage][1]:>6.0f} MB")
        val = images[options.factors[-1]]["val"]
        print(f"\ncandidate simulation and scoring, {val} val images: 1 shard {one:.1f} s, 2 shards {two:.1f} s, "
              f"speed-up {one / two:.2f}x; metrics.json the same bytes: {'yes' if same else 'NO'}")  # fmt: skip
        after_training = STAGES[STAGES.index("train") + 1 :]
        worst = max(after_training, key=exponents.get)
        print(f"steepest growth after training: {worst}, k = {exponents[worst]:.2f}")
        if not same:
            raise SystemExit(1)
    finally:
        if options.keep:
            print(f"working folders kept in {scratch}", file=sys.stderr)
        else:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
