"""A bad config stops Snakemake before any job runs, with one line naming the key (and the file).

Every fault is checked against `config_faults` on the config as Snakemake merges it (the
command line's file over config/config.yaml); a few go through Snakemake itself, which shows
the same lines for every fault, so each kind of check (schema, files, names) is seen there."""

import copy

import pytest
import yaml
from conftest import REPO, run_snakemake, set_key, tiny_config
from posepipe.config_check import config_faults
from snakemake.utils import update_config

SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())


def with_change(change) -> dict:
    config = copy.deepcopy(tiny_config())
    change(config)
    return config


def merged_by_snakemake(config: dict) -> dict:
    """What the Snakefile's `config` holds with `--configfile` naming this config."""
    merged = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    update_config(merged, copy.deepcopy(config))
    return merged


def external_dataset(annotations: str, images: str):
    def change(config):
        config["datasets"]["mine"] = {
            "train": {"annotations": annotations, "images": images},
            "val": {"annotations": annotations, "images": images},
        }
        config["models"]["tiny"]["dataset"] = "mine"

    return change


def write_dataset_files(workdir):
    (workdir / "data" / "images").mkdir(parents=True)
    (workdir / "data" / "ann.json").write_text("{}")


FAULTS = [
    pytest.param(
        set_key(["models", "tiny", "epochz"], 3),
        "models.tiny: unknown key 'epochz' (known keys: architecture,",
        id="unknown-key",
    ),
    pytest.param(
        set_key(["quantize", "calibration_count"], 3),
        "quantize: unknown key 'calibration_count' (known keys:",
        id="unknown-quantize-key",
    ),
    pytest.param(
        set_key(["quantize", "deploy_tolerance"], [0.9]),
        "quantize.deploy_tolerance: [0.9] is too short",
        id="tolerance-one-number",
    ),
    pytest.param(
        set_key(["quantize", "mean"], [0, "a", 0]),
        "quantize.mean[1]: 'a' is not of type 'number'",
        id="mean-not-numbers",
    ),
    pytest.param(
        set_key(["quantize", "pixel_format"], "bgr"),
        "quantize.pixel_format: 'bgr' contradicts the model's input (RGB, mean 0.0, 0.0, 0.0, scale 1/255",
        id="pixel-format-against-the-input-contract",
    ),
    pytest.param(
        set_key(["quantize", "scale"], [1, 1, 1]),
        "quantize.scale: [1, 1, 1] contradicts the model's input",
        id="scale-against-the-input-contract",
    ),
    pytest.param(
        set_key(["quantize", "pixel_format"], "yuv"),
        "quantize.pixel_format: 'yuv' is not one of ['rgb', 'bgr']",
        id="pixel-format",
    ),
    pytest.param(
        set_key(["quantize", "bf16_fallback"], True),
        "quantize: 'bf16_fallback': replaced by quantize.recipes and max_accuracy_drop",
        id="replaced-key",
    ),
    pytest.param(
        set_key(["quantize", "recipes"], [{"name": "int8"}, {"name": "int8", "calibration": "mse"}]),
        "quantize.recipes[1].name: 'int8' is used by an earlier recipe",
        id="recipe-name-twice",
    ),
    pytest.param(
        set_key(["quantize", "recipes"], [{"name": "bf16", "precision": "BF16", "bf16_layers": "search"}]),
        "quantize.recipes[0]: precision BF16 is BF16 throughout: no calibration nor bf16_layers",
        id="recipe-bf16-with-search",
    ),
    pytest.param(
        set_key(["quantize", "recipes"], [{"name": "Head 1", "bf16_layers": "head"}]),
        "quantize.recipes[0].name: 'Head 1' does not match",
        id="recipe-name-not-a-file-name",
    ),
    pytest.param(
        set_key(["quantize", "recipes"], [{"name": "int8", "head_from": ["/model.22/x_Conv"]}]),
        "quantize.recipes[0].head_from: only used with bf16_layers: head",
        id="recipe-head-from-without-head",
    ),
    pytest.param(
        set_key(["quantize", "recipes"], []),
        "quantize.recipes: [] should be non-empty",
        id="no-recipe",
    ),
    pytest.param(
        set_key(["models", "tiny", "epochs"], "ten"),
        "models.tiny.epochs: 'ten' is not of type 'integer'",
        id="wrong-type",
    ),  # fmt: skip
    pytest.param(
        set_key(["models", "tiny", "imgsz"], [200, 320]),
        "models.tiny.imgsz[0]: 200 is not a multiple of 32",
        id="imgsz-not-multiple-of-32",
    ),  # fmt: skip
    pytest.param(
        set_key(["models", "tiny", "imgsz"], [224]), "models.tiny.imgsz: [224] is too short", id="imgsz-one-number"
    ),  # fmt: skip
    pytest.param(
        set_key(["models", "tiny", "dataset"], "absent"),
        "models.tiny.dataset: 'absent' is not one of datasets: demo",
        id="unknown-dataset",
    ),
    pytest.param(
        external_dataset("data/missing.json", "data/images"),
        "datasets.mine.train.annotations: file 'data/missing.json' does not exist",
        id="missing-annotations",
    ),
    pytest.param(
        external_dataset("data/ann.json", "data/no-such-folder"),
        "datasets.mine.train.images: folder 'data/no-such-folder' does not exist",
        id="missing-images-folder",
    ),
    pytest.param(
        set_key(["models", "tiny", "architecture"], "weights/my best.pt"),
        "models.tiny.architecture: file 'weights/my best.pt' does not exist",
        id="missing-pretrained-weights",
    ),
    pytest.param(
        lambda config: config["models"].update({"x;$(touch pwned)": config["models"].pop("tiny")}),
        "models: 'x;$(touch pwned)' does not match",
        id="hostile-model-name",
    ),
]

THROUGH_SNAKEMAKE = [
    fault for fault in FAULTS if fault.id in ("unknown-key", "missing-annotations", "hostile-model-name")
]


def test_the_tests_config_has_no_fault(tmp_path):
    assert config_faults(merged_by_snakemake(tiny_config()), SCHEMA, tmp_path) == []


@pytest.mark.parametrize(("change", "expected"), FAULTS)
def test_config_fault_is_one_line_naming_its_key(tmp_path, change, expected):
    write_dataset_files(tmp_path)
    faults = config_faults(merged_by_snakemake(with_change(change)), SCHEMA, tmp_path)
    assert [fault for fault in faults if expected in fault], faults
    assert all("\n" not in fault for fault in faults), faults


@pytest.mark.parametrize(("change", "expected"), THROUGH_SNAKEMAKE)
def test_config_fault_is_named_before_any_job_runs(tmp_path, change, expected):
    write_dataset_files(tmp_path)
    result = run_snakemake(tmp_path, with_change(change), extra=["--dry-run"], check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert f"config ({tmp_path / 'test-config.yaml'}):" in output
    assert expected in output, output[-2000:]
    assert "Traceback" not in output and "On instance" not in output
    assert not (tmp_path / "results").exists() and not (tmp_path / "pwned").exists()
