"""Does the same quantization job give the same cvimodel? The figures behind docs/reproducibility.md.

Usage: .venv/bin/python bench/deploy_determinism.py [--model yolov8n_pose] [--runs 20]
                                                     [--recipes int8 int8_bf16_head]
                                                     [--dataset demo] [--root results]

Takes a model that `make run` (or any run) has quantized: its transform, its KL calibration
table and its converted dataset (for the calibration image names) under --root. Builds each
recipe's candidate --runs times in fresh folders through the project's own build_candidate,
once with address randomization on (as the tools ran before posepipe turned it off) and once
off (how the pipeline runs them), and prints how many different cvimodels each gave, with how
often each one came.
"""

import argparse
import hashlib
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "workflow"))
from posepipe.dataset.data_yaml import val_images  # noqa: E402
from posepipe.tpu_mlir.commands import Recipe  # noqa: E402
from posepipe.tpu_mlir.env import Runner  # noqa: E402
from posepipe.tpu_mlir.quantize import build_candidate  # noqa: E402

RECIPES = {
    "int8": Recipe.from_config({"name": "int8"}),
    "int8_bf16_head": Recipe.from_config({"name": "int8_bf16_head", "bf16_layers": "head"}),
}


def digests(quantize: Path, dataset: Path, recipe: Recipe, runner: Runner, runs: int) -> Counter:
    counts = Counter()
    with tempfile.TemporaryDirectory() as scratch:
        for run in range(runs):
            out = Path(scratch) / f"run{run}"
            build_candidate(
                transform_dir=quantize / "transform",
                recipe=recipe,
                calibration_table=quantize / "calibration" / "kl.table",
                calibration_images=val_images(dataset)[:8],
                deploy_tolerance=[0.5, 0.1],
                runner=runner,
                work_dir=out / "work",
                out_cvimodel=out / "model.cvimodel",
                out_report=out / "report.json",
            )
            counts[hashlib.sha256((out / "model.cvimodel").read_bytes()).hexdigest()[:12]] += 1
    return counts


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="yolov8n_pose")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--dataset", default="demo", help="the model's dataset (config `models.<model>.dataset`)")
    parser.add_argument("--root", type=Path, default=Path("results"))
    args = parser.parse_args()
    quantize = args.root / args.model / "quantize"
    transform = json.loads((quantize / "transform" / "transform.json").read_text())
    dataset = args.root / "datasets" / args.dataset
    print(f"{args.model}: {transform['runner']['kind']} runner, TPU-MLIR {transform['tpu_mlir_version']}")
    print(f"{'recipe':<16} {'addresses':<11} {'runs':>4} {'cvimodels':>9}  counts")
    for name in args.recipes:
        for fixed in (False, True):
            runner = Runner(transform["runner"]["kind"], transform["runner"]["location"], fixed_addresses=fixed)
            counts = digests(quantize, dataset, RECIPES[name], runner, args.runs)
            shown = " ".join(f"{digest}x{n}" for digest, n in counts.most_common())
            print(f"{name:<16} {'fixed' if fixed else 'randomized':<11} {args.runs:>4} {len(counts):>9}  {shown}")


if __name__ == "__main__":
    main()
