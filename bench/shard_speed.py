"""A candidate's simulation and scoring in one shard against two: wall time and identical metrics.

Usage: .venv/bin/python bench/shard_speed.py [--model yolov8n_pose] [--recipe int8]
                                              [--dataset demo] [--images 160] [--root results]

Takes a model that `make run` (or any run) has quantized, and a val split of --images images
made from its dataset's val images, hard-linked under new names with their labels (the demo has
16: too few for the fixed costs of a job to stop mattering). Then runs what the workflow's jobs
run, each in a fresh Python process with one thread as Snakemake starts them: rule simulate_candidate and rule
score_candidate_shard per shard (the shards side by side), then rule validate_candidate over the
shards. Prints the wall time of each layout, the peak memory of a shard job and of the gathering
job (also at a quarter of the images: how memory grows with them), the speed-up, and whether the
two layouts' metrics.json and val-stats.npz are the same bytes.

It also prints what bounds the speed-up here: how many cores one shard job keeps busy on its own
(its CPU time over its wall time: TPU-MLIR's simulator runs the chip's engines in threads of its
own), and what this machine gives two independent CPU-bound processes (a Python loop, one copy
against two at once). Two shards cannot beat the cores left idle by one.
"""

import argparse
import filecmp
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# one job's work, as the rule scripts call it (workflow/scripts/simulate_candidate.py,
# score_candidate_shard.py, validate_candidate.py)
SHARD_JOBS = """
import json, sys
from pathlib import Path
from posepipe.evaluation.device_metrics import score_shard
from posepipe.tpu_mlir.quantize import simulate
from posepipe.tpu_mlir.env import Runner
a = json.loads(sys.argv[1])
work = Path(a["work"])
simulate(cvimodel=Path(a["cvimodel"]), dataset_dir=Path(a["dataset"]), imgsz=a["imgsz"], shard=a["shard"],
         runner=Runner(*a["runner"]), work_dir=work / "run", out_dir=work / "outputs")
score_shard(outputs_dir=work / "outputs", dataset_dir=Path(a["dataset"]), imgsz=a["imgsz"], app=a["app"],
            config_dir=Path(a["config"]), out=work / "scores.pickle")
"""

GATHER_JOB = """
import json, sys
from pathlib import Path
from posepipe.evaluation.bootstrap import save_image_stats
from posepipe.evaluation.device_metrics import evaluate_simulated
a = json.loads(sys.argv[1])
result, per_image = evaluate_simulated(shard_scores=[Path(p) for p in a["scores"]], dataset_dir=Path(a["dataset"]),
    imgsz=a["imgsz"], cvimodel_name="model.cvimodel", app=a["app"], config_dir=Path(a["config"]))
Path(a["out"], "metrics.json").write_text(json.dumps(result, indent=1) + "\\n")
save_image_stats(Path(a["out"], "val-stats.npz"), per_image)
"""


def larger_val_split(dataset: Path, out: Path, images: int) -> Path:
    """A dataset folder whose val split holds `images` images: the source's val images again
    and again under new names (hard links), each with its label file."""
    source = sorted((dataset / "images" / "val").iterdir())
    (out / "images" / "val").mkdir(parents=True)
    (out / "labels" / "val").mkdir(parents=True)
    shutil.copyfile(dataset / "data.yaml", out / "data.yaml")
    for index in range(images):
        image = source[index % len(source)]
        name = f"r{index // len(source):03d}_{image.name}"
        os.link(image, out / "images" / "val" / name)
        label = dataset / "labels" / "val" / f"{image.stem}.txt"
        if label.exists():
            shutil.copyfile(label, out / "labels" / "val" / f"{Path(name).stem}.txt")
    return out


def job_on_first(job: dict, images: int, work: Path) -> dict:
    """`job` on a dataset holding only the first `images` of its val images."""
    dataset = Path(job["dataset"])
    return dict(job, dataset=str(larger_val_split(dataset, work / "dataset", images)))


# what Snakemake sets for a job of one thread, as these rules' jobs are (snakemake/shell.py)
ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "GOTO_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def python(code: str, arguments: dict) -> subprocess.Popen:
    env = {**os.environ, **ONE_THREAD, "PYTHONPATH": str(REPO / "workflow")}
    return subprocess.Popen([sys.executable, "-c", code, json.dumps(arguments)], env=env, stdout=subprocess.DEVNULL)


def waited(processes: list[subprocess.Popen]) -> tuple[float, float]:
    """Wait for every process: the largest peak resident memory among them in MB, and the CPU
    seconds they used, threads and children included (wait4)."""
    peaks, cpu = [], 0.0
    for process in processes:
        _, status, usage = os.wait4(process.pid, 0)
        if status != 0:
            raise SystemExit("a job failed")
        peaks.append(usage.ru_maxrss / 1024)
        cpu += usage.ru_utime + usage.ru_stime
    return max(peaks), cpu


CPU_LOOP = "s = 0\nfor i in range(30_000_000):\n    s += i"


def two_process_gain(repeat: int = 3) -> float:
    """What this machine gives two independent CPU-bound processes: the time of one Python loop
    against two copies at once, as a speed-up of the pair's work (2.0 on two free cores)."""

    def wall(copies: int) -> float:
        begin = time.perf_counter()
        waited([subprocess.Popen([sys.executable, "-c", CPU_LOOP]) for _ in range(copies)])
        return time.perf_counter() - begin

    return min(2 * wall(1) / wall(2) for _ in range(repeat))


def sharded_run(work: Path, shards: int, job: dict) -> dict:
    """Wall time of the simulation and scoring of every shard, side by side, then their
    gathering; and the peak memory of a shard job and of the gathering job."""
    begin = time.perf_counter()
    shard_dirs = [work / f"{index + 1}-of-{shards}" for index in range(shards)]
    shard_peak, shard_cpu = waited(
        [python(SHARD_JOBS, {**job, "shard": [i, shards], "work": str(d)}) for i, d in enumerate(shard_dirs)]
    )
    shards_wall = time.perf_counter() - begin
    scores = [str(d / "scores.pickle") for d in shard_dirs]
    gather_peak, _ = waited([python(GATHER_JOB, {**job, "scores": scores, "out": str(work)})])
    return {
        "wall": time.perf_counter() - begin,
        "shard_mb": shard_peak,
        "gather_mb": gather_peak,
        "busy_cores": shard_cpu / shards_wall,  # of the shard jobs, side by side
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="yolov8n_pose")
    parser.add_argument("--recipe", default="int8")
    parser.add_argument("--dataset", default="demo")
    parser.add_argument("--images", type=int, default=160)
    parser.add_argument("--root", type=Path, default=REPO / "results")
    options = parser.parse_args()

    quantize = options.root / options.model / "quantize"
    cvimodel = quantize / options.recipe / f"{options.model}.cvimodel"
    if not cvimodel.is_file():
        raise SystemExit(f"{cvimodel}: not built; run `make run` (or the workflow up to it) first")
    transform = json.loads((quantize / "transform" / "transform.json").read_text())
    with tempfile.TemporaryDirectory(prefix="posepipe-shards-") as scratch:
        source = options.root / "datasets" / options.dataset
        dataset = larger_val_split(source, Path(scratch) / "dataset", options.images)
        job = {
            "cvimodel": str(cvimodel.resolve()),
            "dataset": str(dataset),
            "imgsz": json.loads((quantize / options.recipe / "metrics.json").read_text())["imgsz"],
            "runner": [transform["runner"]["kind"], transform["runner"]["location"]],
            "app": {"conf_th": None, "keypoint_th": None, "iou_th": 0.45},  # the config's defaults
            "config": str(Path(scratch) / "ultralytics"),
        }
        runs = {}
        for images, shards in ((options.images // 4, 1), (options.images, 1), (options.images, 2)):
            work = Path(scratch) / f"{images}-images-{shards}-shards"
            work.mkdir()
            subset = job if images == options.images else job_on_first(job, images, work)
            runs[images, shards] = {**sharded_run(work, shards, subset), "work": work}
        print(f"{options.model} {options.recipe}, val images of {job['imgsz'][0]}x{job['imgsz'][1]}, "
              f"{len(os.sched_getaffinity(0))} cores")  # fmt: skip
        print(f"{'images':>6} {'shards':>6} {'wall s':>8} {'s/image':>8} {'shard job MB':>13} {'gather job MB':>14}")
        for (images, shards), run in runs.items():
            print(
                f"{images:>6} {shards:>6} {run['wall']:>8.1f} {run['wall'] / images:>8.3f} "
                f"{run['shard_mb']:>13.0f} {run['gather_mb']:>14.0f}"
            )
        one, two = runs[options.images, 1], runs[options.images, 2]
        outputs = ("metrics.json", "val-stats.npz")
        same = all(filecmp.cmp(one["work"] / name, two["work"] / name, shallow=False) for name in outputs)
        print(f"speed-up of 2 shards over 1: {one['wall'] / two['wall']:.2f}x")
        cores = len(os.sched_getaffinity(0))
        print(
            f"one shard job alone keeps {one['busy_cores']:.2f} cores busy, two side by side "
            f"{two['busy_cores']:.2f}: two shards can be at most {min(2, cores / one['busy_cores']):.2f}x "
            f"faster on {cores} cores; two independent CPU-bound processes here: {two_process_gain():.2f}x"
        )
        print(f"metrics.json and val-stats.npz the same bytes: {'yes' if same else 'NO'}")
        if not same:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
