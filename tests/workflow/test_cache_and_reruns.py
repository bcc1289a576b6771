"""Snakemake's output cache across working folders, and reruns of exactly the stages a config key
feeds (config/README.md has the table these tests check)."""

import copy
import shutil

import pytest
import torch
from support.checks import assert_same_bytes
from support.runs import VAL_SHARDS, planned, planned_counts, run_snakemake, set_key, tiny_config, tiny_full_config

CACHED_TARGET = "results/tiny/tiny_pruned.onnx"


@pytest.mark.slow
def test_second_workdir_takes_training_from_the_cache(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    env = {"SNAKEMAKE_OUTPUT_CACHE": str(cache)}
    run_snakemake(tmp_path / "a", tiny_config(), CACHED_TARGET, extra=["--cache"], env=env)
    assert "Epoch" in (tmp_path / "a" / "results" / "logs" / "train" / "tiny.log").read_text()
    run_snakemake(tmp_path / "b", tiny_config(), CACHED_TARGET, extra=["--cache"], env=env)
    (run_log,) = (tmp_path / "b" / ".snakemake" / "log").glob("*.snakemake.log")
    log = run_log.read_text()
    for output in (
        "results/datasets/demo/labels",
        "results/tiny/train/best.pt",
        "results/tiny/tiny.onnx",
        CACHED_TARGET,
    ):
        assert f"Symlinking output file {output} from cache" in log, output
    assert (tmp_path / "b" / "results" / "logs" / "train" / "tiny.log").stat().st_size == 0  # no training ran
    assert (tmp_path / "b" / "results" / "tiny" / "train" / "best.pt").resolve().is_relative_to(cache)
    best = [torch.load(w / "results/tiny/train/best.pt", weights_only=False) for w in (tmp_path / "a", tmp_path / "b")]
    for key, tensor in best[0]["model"].state_dict().items():
        assert torch.equal(tensor, best[1]["model"].state_dict()[key]), key
    for path in ("results/tiny/tiny.onnx", CACHED_TARGET, "results/datasets/demo/data.yaml"):
        assert_same_bytes(tmp_path / "a" / path, tmp_path / "b" / path)


# ---- rerun only what changed ----

MUD = "results/tiny.mud"


@pytest.fixture(scope="module")
def built_tiny(tmp_path_factory, built_twice) -> dict:
    """The tiny chain built through the .mud: a copy of one of the reproducibility builds (the
    same config), so that planning here leaves those folders as their tests read them."""
    workdir = tmp_path_factory.mktemp("reruns") / "built"
    shutil.copytree(built_twice[0], workdir, symlinks=True)
    return {"workdir": workdir, "config": tiny_full_config()}


AFTER_SELECTION = {"select_cvimodel", "metrics", "provenance", "package"}
SCORING_CANDIDATES = {"score_candidate_shard", "validate_candidate"}
AFTER_CANDIDATES = {"quantize_candidate", "simulate_candidate", *SCORING_CANDIDATES, *AFTER_SELECTION}
FROM_SCORING = {"validate_device", *SCORING_CANDIDATES, *AFTER_SELECTION}  # the device-decoded scores
FROM_CALIBRATION = {"quantize_calibrate", *AFTER_CANDIDATES}
AFTER_QUANTIZE = {"quantize_transform", *FROM_CALIBRATION}
FROM_PRUNING = {"prune", "validate_device", *AFTER_QUANTIZE}
# the names discovery finds in a yolov8n-pose export, given explicitly
PRUNE_OUTPUTS = {
    "dfl": "/model.22/dfl/conv/Conv_output_0",
    "scores": "/model.22/Sigmoid_output_0",
    "keypoints": "/model.22/Concat_2_output_0",
}
FROM_EXPORT = {"export_onnx", "validate", *FROM_PRUNING}
FROM_TRAINING = {"train", *FROM_EXPORT}


def rename_label(workdir):
    """A category renamed in the COCO JSON the dataset reads (the files are inputs, not config)."""
    import json

    path = workdir / "results" / "demo" / "annotations" / "train.json"
    coco = json.loads(path.read_text())
    coco["categories"][0]["name"] = "walker"
    path.write_text(json.dumps(coco))


RERUN_TABLE = [
    ("quantize.calibration_images", set_key(["quantize", "calibration_images"], 3), FROM_CALIBRATION),
    ("quantize.deploy_tolerance", set_key(["quantize", "deploy_tolerance"], [0.5, 0.2]), AFTER_CANDIDATES),
    ("quantize.max_accuracy_drop", set_key(["quantize", "max_accuracy_drop"], 0.5), AFTER_SELECTION),
    ("quantize.if_none_within_gate", set_key(["quantize", "if_none_within_gate"], "most_accurate"), AFTER_SELECTION),
    ("quantize.transform_tolerance", set_key(["quantize", "transform_tolerance"], [0.98, 0.98]), AFTER_QUANTIZE),
    ("app.iou_th", set_key(["app", "iou_th"], 0.5), FROM_SCORING),
    ("app.keypoint_th", set_key(["app", "keypoint_th"], 0.4), FROM_SCORING),
    ("app.name", set_key(["app", "name"], "walkers"), set()),  # the app only, which the .mud does not need
    ("models.tiny.epochs", set_key(["models", "tiny", "epochs"], 2), FROM_TRAINING),
    ("models.tiny.batch", set_key(["models", "tiny", "batch"], 2), FROM_TRAINING),
    ("models.tiny.imgsz", set_key(["models", "tiny", "imgsz"], [96, 96]), FROM_TRAINING),
    ("models.tiny.architecture", set_key(["models", "tiny", "architecture"], "yolo11n-pose.yaml"), FROM_TRAINING),
    ("models.tiny.labels", set_key(["models", "tiny", "labels"], ["walker"]), {"provenance", "package"}),
    ("models.tiny.measured_fps", set_key(["models", "tiny", "measured_fps"], 120.0), {"provenance", "package"}),
    ("models.tiny.device", set_key(["models", "tiny", "device"], "0"), set()),  # a resource, not a param
    ("models.tiny.opset", set_key(["models", "tiny", "opset"], 16), FROM_EXPORT),
    ("models.tiny.prune_outputs", set_key(["models", "tiny", "prune_outputs"], PRUNE_OUTPUTS), FROM_PRUNING),
    ("datasets.demo.flip_idx", set_key(["datasets", "demo", "flip_idx"], list(range(17))), {"convert", *FROM_TRAINING}),
    ("demo.seed", set_key(["demo", "seed"], 1), {"demo_dataset", "convert", *FROM_TRAINING}),
]


def test_the_built_chain_with_its_own_config_plans_nothing(built_tiny):
    """What every change below is measured from (dry runs write nothing: once is enough)."""
    assert planned(built_tiny["workdir"], copy.deepcopy(built_tiny["config"]), MUD) == set()


@pytest.mark.parametrize(("key", "change", "expected"), RERUN_TABLE, ids=[row[0] for row in RERUN_TABLE])
def test_changing_a_key_reruns_exactly_the_stages_it_feeds(built_tiny, key, change, expected):
    config = copy.deepcopy(built_tiny["config"])
    change(config)
    assert planned(built_tiny["workdir"], config, MUD) == expected


def test_a_renamed_label_reruns_conversion_onwards(built_tiny, tmp_path):
    workdir = tmp_path / "work"
    shutil.copytree(built_tiny["workdir"], workdir, symlinks=True)
    rename_label(workdir)
    assert planned(workdir, built_tiny["config"], MUD) == {"convert", *FROM_TRAINING}


# quantize.recipes: the tiny config has int8 and bf16 (conftest); a change reaches only the jobs
# of the recipes it touches, then selection and what follows
ONE_CANDIDATE = {
    "quantize_candidate": 1,
    "simulate_candidate": VAL_SHARDS,
    "score_candidate_shard": VAL_SHARDS,
    "validate_candidate": 1,
}
RECIPE_CHANGES = [
    (
        "one recipe's calibration",
        [{"name": "int8", "calibration": "mse"}, {"name": "bf16", "precision": "BF16"}],
        {"quantize_calibrate": 1, **ONE_CANDIDATE},
    ),
    (
        "a recipe added",
        [{"name": "int8"}, {"name": "bf16", "precision": "BF16"}, {"name": "int8_head", "bf16_layers": "head"}],
        ONE_CANDIDATE,
    ),
    ("a recipe removed", [{"name": "int8"}], {}),
    ("the order", [{"name": "bf16", "precision": "BF16"}, {"name": "int8"}], {}),
]


@pytest.mark.parametrize(("change", "recipes", "jobs"), RECIPE_CHANGES, ids=[row[0] for row in RECIPE_CHANGES])
def test_changing_the_recipes_reruns_only_the_candidates_they_touch(built_tiny, change, recipes, jobs):
    config = copy.deepcopy(built_tiny["config"])
    config["quantize"]["recipes"] = recipes
    assert planned_counts(built_tiny["workdir"], config, MUD) == {**jobs, **dict.fromkeys(AFTER_SELECTION, 1)}
