"""Real Snakemake runs of this repository's workflow, the configs the tests run, and their
dry-run plans."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import yaml
from posepipe.infra.shared_env import default_root

from support import parts, snakemake_cli
from support.paths import REPO, SNAKEFILE

# the workflow's default number of val shards per candidate (scattergather in workflow/Snakefile)
VAL_SHARDS = len(os.sched_getaffinity(0))


def run_snakemake(
    workdir: Path, config: dict, *targets: str, extra=(), check=True, env=None, prefix=()
) -> subprocess.CompletedProcess:
    """A real Snakemake run of this repository's workflow in `workdir` with `config` (under
    `prefix`, a command that runs the rest, where one is given)."""
    workdir.mkdir(parents=True, exist_ok=True)
    config_file = workdir / "test-config.yaml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    words = [
        "--snakefile", str(SNAKEFILE), "--directory", str(workdir),
        "--configfile", str(config_file), "--cores", "2", *targets, *extra,
    ]  # fmt: skip
    # a None in `env` removes that variable from the run's environment
    merged = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **(env or {})}
    result = snakemake_cli.run(words, REPO, {k: v for k, v in merged.items() if v is not None}, prefix=prefix)
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
        )
    return result


def copied_build(build: Path, tmp_path: Path) -> Path:
    """A copy of a shared build (the same files and modification times, so Snakemake sees it as
    built) for a test that reruns a stage: the shared one stays as every other test expects it."""
    workdir = tmp_path / "build"
    shutil.copytree(build, workdir, symlinks=True)
    return workdir


def job_counts(dry_run_output: str) -> dict[str, int]:
    """Rule -> number of jobs, from the table `snakemake --dry-run --quiet rules` prints. Empty
    only where Snakemake says there is nothing to do: output without a table whose rows add up
    to its total fails, rather than reading as "nothing planned"."""
    rows = [line.split() for line in dry_run_output.splitlines()]
    counts = {row[0]: int(row[1]) for row in rows if len(row) == 2 and row[1].isdigit()}
    total = counts.pop("total", None)
    if total is None:
        assert "Nothing to be done" in dry_run_output, f"no job table in Snakemake's output:\n{dry_run_output[-3000:]}"
        return {}
    assert sum(counts.values()) == total, f"job table misread: {counts} against total {total}"
    return counts


def planned_counts(workdir: Path, config: dict, target: str) -> dict[str, int]:
    """The rules a dry run would run for `target` in `workdir`, and how many jobs of each."""
    return job_counts(run_snakemake(workdir, config, target, extra=["--dry-run", "--quiet", "rules"]).stdout)


def planned(workdir: Path, config: dict, target: str) -> set[str]:
    return set(planned_counts(workdir, config, target))


# Training is not bit-identical across processors, so no test may depend on what one set of
# weights happens to do: `POSEPIPE_TEST_SEED=1 make test` trains every test model differently
# and shows whether a test relies on its weights (docs/testing.md).
TRAINING_SEED = int(os.environ.get("POSEPIPE_TEST_SEED", "0"))


def tiny_config(**model_overrides) -> dict:
    """The demo pipeline shrunk for tests: 8 + 4 images of 160x128, one epoch at 64x96."""
    model = {
        "dataset": "demo",
        "architecture": "yolov8n-pose.yaml",
        "imgsz": [64, 96],
        "epochs": 1,
        "batch": 4,
        "seed": TRAINING_SEED,
    }
    return {
        "demo": {"seed": 0, "train_images": 8, "val_images": 4, "width": 160, "height": 128},
        "datasets": {
            "demo": {
                split: {
                    "annotations": f"results/demo/annotations/{split}.json",
                    "images": f"results/demo/images/{split}",
                }
                for split in ("train", "val")
            }
        },
        "models": {"tiny": {**model, **model_overrides}},
    }


def tiny_full_config() -> dict:
    """The tiny config through quantization and the .mud."""
    config = tiny_config()
    # one epoch gives a model whose INT8 outputs are far from its float ones: these tests are
    # about bytes and files, not accuracy, so the deploy check is loose and the cheapest
    # candidate ships whatever its drop; two cheap recipes (BF16 needs no calibration)
    config["quantize"] = {
        # the venv route, on any machine: one with a TPU-MLIR docker image would take docker under `auto`
        "runner": "venv",
        "venv_root": str(default_root()),
        "deploy_tolerance": [0.5, 0.1],
        "calibration_images": 4,
        "recipes": [{"name": "int8"}, {"name": "bf16", "precision": "BF16"}],
        "max_accuracy_drop": 1.0,
        "max_keypoint_drop": 1.0,
    }
    return config


def search_config(**search) -> dict:
    """tiny_full_config with no model of its own and one search over the tiny demo (`poses`,
    target 30 fps): `search` gives its points (architectures and imgsz, or points)."""
    config = tiny_full_config()
    model = config.pop("models")["tiny"]
    shared = {key: value for key, value in model.items() if key not in ("architecture", "imgsz")}
    config["searches"] = {"poses": {**shared, "target_fps": 30, **search}}
    return config


def set_key(path: list, value):
    """A change to a config: the key at `path` (a list of keys) set to `value`."""

    def change(config):
        target = config
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = value

    return change


OFFLINE_SITE = Path(__file__).resolve().parent / "offline"


def offline_env(tmp: Path) -> dict[str, str | None]:
    """Environment for a run with every network connection refused and recorded, and an empty
    home directory, so that a test can check nothing was fetched nor written there. Every Python
    process that loads the guard says so in `guard-loaded.log`, so that an empty
    `network-attempts.log` means the guard was there and saw nothing."""
    home = tmp / "home"
    home.mkdir(parents=True, exist_ok=True)
    return {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(OFFLINE_SITE), os.environ.get("PYTHONPATH")])),
        "POSEPIPE_NETWORK_LOG": str(tmp / "network-attempts.log"),
        "POSEPIPE_GUARD_LOADED": str(tmp / "guard-loaded.log"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        # pytest's own settings folder (pytest_configure) would hide a rule that leaves
        # Ultralytics to write its settings under $HOME
        "YOLO_CONFIG_DIR": None,
    }


def run_offline(workdir: Path, config: dict, *targets: str) -> subprocess.CompletedProcess:
    """A run with no network: in a network namespace of its own where the machine allows one
    (then no process can connect, the TPU-MLIR tools too, which start with an emptied
    environment and so without the guard), and with the guard (offline_env) in every Python
    process either way; `offline-run.txt` in `workdir` says which."""
    isolated = parts.here("network-namespace")
    (workdir / "offline-run.txt").write_text("network namespace\n" if isolated else "guard only\n")
    prefix = parts.NO_NETWORK if isolated else ()
    return run_snakemake(workdir, config, *targets, env=offline_env(workdir), prefix=prefix)


SMALL_MODEL_RECIPES = [
    {"name": "int8"},
    {"name": "int8_mixed", "bf16_layers": "search", "expected_cos": 0.9999, "max_float_layers": 8},
    {"name": "int8_bf16_head", "bf16_layers": "head"},
    {"name": "bf16", "precision": "BF16"},
]


# the small model's input: 12 x 16 cells of stride 8, 252 anchors
SMALL_IMGSZ = [96, 128]


def small_model_config() -> dict:
    """A model trained for real (240 steps on 32 figures drawn whole, the demo's panels off) and
    validated on 16 figures it never saw: every stage costs what the val images and the input
    size make it, and no test relies on how well it learnt (conditions are built on purpose)."""
    config = tiny_config(epochs=30, imgsz=SMALL_IMGSZ, batch=4)
    config["demo"].update(train_images=32, val_images=16, width=320, height=240, panels=False)
    config["models"] = {"small": config["models"]["tiny"]}
    config["quantize"] = {
        # the venv route, on any machine (test_quantize_docker.py asks for docker itself)
        "runner": "venv",
        # absolute: the offline runs give the pipeline an empty $HOME, but reuse the machine's TPU-MLIR venv
        "venv_root": str(default_root()),
        # a tolerance any trained weights meet: the one-image similarity of INT8 varies with the
        # weights; tests that need a miss force it (test_quantize.py)
        "deploy_tolerance": [0.5, 0.1],
        # the search runs the model min(calibration images, 8) times for each of its ~175 layers:
        # one image costs an eighth of the usual eight, and it still keeps layers in BF16
        "calibration_images": 1,
        # every kind of recipe; the search is asked for a cosine no INT8 model reaches, so that
        # it always keeps layers in BF16
        "recipes": SMALL_MODEL_RECIPES,
        # any drop passes: the cheapest ships, whatever these weights do (test_quantize.py
        # holds the gate against the measured figures)
        "max_accuracy_drop": 1.0,
        "max_keypoint_drop": 1.0,
    }
    return config


def build_trained_candidate(trained: Path, out: Path, recipe, deploy_tolerance=(0.5, 0.1)) -> dict:
    """build_candidate() itself, real tools, on the `trained` model's transform, into `out`."""
    from posepipe.dataset.data_yaml import val_images
    from posepipe.tpu_mlir.env import Runner
    from posepipe.tpu_mlir.quantize import build_candidate

    out.mkdir(parents=True, exist_ok=True)
    quantize = trained / "results" / "small" / "quantize"
    used = json.loads((quantize / "transform" / "transform.json").read_text())["runner"]
    return build_candidate(
        transform_dir=quantize / "transform",
        recipe=recipe,
        calibration_table=quantize / "calibration" / "kl.table",
        calibration_images=val_images(trained / "results" / "datasets" / "demo")[:8],
        deploy_tolerance=list(deploy_tolerance),
        runner=Runner(used["kind"], used["location"]),
        work_dir=out / "work",
        out_cvimodel=out / "small.cvimodel",
        out_report=out / "report.json",
    )
