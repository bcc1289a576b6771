"""TPU-MLIR quantization (real tools, venv route), INT8 accuracy, and the .mud package."""

import hashlib
import json
from pathlib import Path

import pytest
from posepipe.device import speed as device_speed
from posepipe.evaluation.selection import select
from posepipe.infra.errors import PosepipeError
from posepipe.infra.schema import defaults
from posepipe.tpu_mlir.commands import Recipe
from support.checks import assert_same_bytes, write_json
from support.paths import REPO
from support.runs import (
    SMALL_MODEL_RECIPES,
    VAL_SHARDS,
    build_trained_candidate,
    copied_build,
    run_snakemake,
    small_model_config,
)

TPU_MLIR_VERSION = defaults("quantize")["tpu_mlir_version"]


def candidate_report(trained: Path, recipe: str) -> dict:
    return json.loads((trained / "results" / "small" / "quantize" / recipe / "report.json").read_text())


def test_every_recipe_gives_a_cvimodel_with_parsed_similarities(trained):
    model_dir = trained / "results" / "small"
    transform = json.loads((model_dir / "quantize" / "transform" / "transform.json").read_text())
    assert transform["tpu_mlir_version"] == TPU_MLIR_VERSION and transform["runner"]["kind"] == "venv"
    assert transform["settings"]["output_names"] == [
        o["name"] for o in json.loads((model_dir / "small_pruned.json").read_text())["outputs"]
    ]
    assert any(b["tensor"].startswith("/model.22/Concat_2_output_0") for b in transform["similarity"])
    for recipe in [r["name"] for r in SMALL_MODEL_RECIPES]:
        report = candidate_report(trained, recipe)
        assert (model_dir / "quantize" / recipe / "small.cvimodel").stat().st_size == report["size_bytes"] > 100_000
        assert report["similarity"]["deploy"] and any("cosine" in b for b in report["similarity"]["deploy"])
        assert (model_dir / "quantize" / recipe / "tool-logs" / "deploy.log").stat().st_size > 0
    # the sample the report names is the one TPU-MLIR's calibration read
    sample = candidate_report(trained, "int8")["calibration_images"]
    search_log = (model_dir / "quantize" / "int8_mixed" / "tool-logs" / "calibration.log").read_text()
    assert len(sample) == 1 and f"real input_num = {len(sample)}" in search_log.splitlines()


def test_mixed_cvimodels_really_hold_bf16_layers(trained):
    """Read back from model_deploy's listing of what the built cvimodel computes, per tensor."""
    plain, mixed, head, bf16 = (candidate_report(trained, r) for r in ("int8", "int8_mixed", "int8_bf16_head", "bf16"))
    # the search was asked for a cosine INT8 cannot reach: it keeps its layers in BF16
    assert len(mixed["bf16"]["layers"]) > len(plain["bf16"]["layers"])
    searched = set(mixed["qtable"]) & set(mixed["bf16"]["layers"])  # what the search chose is BF16 in the model
    assert searched and not searched & set(plain["bf16"]["layers"])
    # the head: the convolutions nearest the keypoint output and what follows them
    assert head["head_from"] == sorted(f"/model.22/cv4.{i}/cv4.{i}.2/Conv_output_0_Conv" for i in range(3))
    assert set(head["head_from"]) <= set(head["bf16"]["layers"]) and set(head["head_from"]) <= set(head["qtable"])
    assert not set(head["head_from"]) & set(plain["bf16"]["layers"])
    for report in (mixed, head):
        assert plain["bf16"]["elements_share"] < report["bf16"]["elements_share"] < 0.5
    assert bf16["bf16"]["elements_share"] > 0.95 and bf16["size_bytes"] > 1.5 * plain["size_bytes"]  # twice the bytes


def test_the_cheapest_within_the_gate_ships_with_every_candidate_side_by_side(trained):
    results = trained / "results"
    report = json.loads((results / "small" / "quantize" / "report.json").read_text())
    rows = {r["recipe"]: r for r in report["candidates"]}
    assert list(rows) == [r["name"] for r in SMALL_MODEL_RECIPES]
    # max_accuracy_drop 1.0 (conftest): every candidate is within it, so the cheapest ships
    assert report["chosen"]["recipe"] == "int8" == min(rows, key=lambda r: rows[r]["estimated_ms"])
    assert rows["bf16"]["estimated_ms"] > max(rows[r]["estimated_ms"] for r in ("int8", "int8_mixed", "int8_bf16_head"))
    assert_same_bytes(results / "small" / "small.cvimodel", results / "small" / "quantize" / "int8" / "small.cvimodel")
    metrics = json.loads((results / "small" / "metrics.json").read_text())
    device = metrics["device_float"]["pose"]["mAP50-95"]
    for name, candidate in rows.items():
        measured = json.loads((results / "small" / "quantize" / name / "metrics.json").read_text())
        assert candidate["pose"]["mAP50-95"] == measured["pose"]["mAP50-95"]
        assert candidate["pose_mAP50-95_drop"] == pytest.approx(device - measured["pose"]["mAP50-95"], abs=1e-6)
        low, high = candidate["pose_mAP50-95_drop_interval"]  # paired bootstrap (tests/test_bootstrap.py)
        assert -1 <= low <= high <= 1
        assert candidate["bf16_layer_count"] == len(candidate_report(trained, name)["bf16"]["layers"])
        # the estimate: TPU-MLIR's cost of the built model, through the calibrated speed model
        assert candidate["cost"] == candidate_report(trained, name)["cost"] and candidate["cost"]["group_cost"] > 0
        rates = json.loads((REPO / "workflow" / "posepipe" / "device" / "speed.json").read_text())["ms_per"]
        ms = (
            candidate["cost"]["group_cost"] * rates["group_cost"]
            + candidate["cost"]["global_macs"] * rates["global_macs"]
        )
        assert candidate["estimated_ms"] == round(ms, 2) and candidate["estimated_fps"] == round(1000 / ms, 1)
    assert metrics["quantization"]["candidates"] == report["candidates"]
    assert metrics["cvimodel"]["recipe"] == "int8"
    provenance = json.loads((results / "small" / "provenance.json").read_text())
    assert provenance["quantization"]["chosen"]["recipe"] == "int8"
    assert provenance["quantization"]["candidates"] == report["candidates"]


CANDIDATE_FILES = ("small.cvimodel", "report.json", "metrics.json", "val-stats.npz")


def strict_gate_arguments(trained: Path, tmp_path: Path, worse: str | None = None, by: float = 0.0) -> dict:
    """select()'s arguments for the trained candidates; with `worse`, that candidate's measured
    pose mAP50-95 lowered by `by` in a copy of its metrics (a condition built on purpose: which
    candidate the weights favour is not for a test to rely on)."""
    model = trained / "results" / "small"
    report = json.loads((model / "quantize" / "report.json").read_text())
    candidates = {}
    for row in report["candidates"]:
        files = [model / "quantize" / row["recipe"] / name for name in CANDIDATE_FILES]
        if row["recipe"] == worse:
            metrics = json.loads(files[2].read_text())
            metrics["pose"]["mAP50-95"] -= by
            files[2] = write_json(tmp_path / "worse-metrics.json", metrics)
        candidates[row["recipe"]] = tuple(files)
    return dict(
        transform_json=model / "quantize" / "transform" / "transform.json",
        candidates=candidates,
        reference_metrics=model / "metrics" / "device_float.json",
        reference_stats=model / "val-stats" / "device_float.npz",
        if_none_within_gate="fail",
        max_keypoint_drop=1.0,  # the mAP gate alone: tests/unit/evaluation/test_selection.py holds the keypoint one
        speed=device_speed.calibration(),
        out_cvimodel=tmp_path / "small.cvimodel",
        out_report=tmp_path / "report.json",
        out_metrics=tmp_path / "metrics.json",
    )


def test_a_gate_no_candidate_meets_fails_with_the_table_and_ships_nothing(trained, tmp_path):
    rows = json.loads((trained / "results/small/quantize/report.json").read_text())["candidates"]
    strict = min(r["pose_mAP50-95_drop"] for r in rows) - 1e-6  # under every candidate's measured drop
    with pytest.raises(PosepipeError, match="no recipe's cvimodel is within max_accuracy_drop") as error:
        select(**strict_gate_arguments(trained, tmp_path), max_accuracy_drop=strict)
    assert all(f"{r['recipe']}: pose mAP50-95" in str(error.value) for r in rows) and "\n" not in str(error.value)
    assert not (tmp_path / "small.cvimodel").exists()


def test_a_gate_the_cheapest_misses_takes_the_next_cheapest_within_it(trained, tmp_path):
    """The cheapest candidate made the least accurate by 0.05 on purpose; the gate set between its
    drop and the others': the cheapest of the rest ships, a candidate with more BF16."""
    rows = json.loads((trained / "results/small/quantize/report.json").read_text())["candidates"]
    cheapest = min(rows, key=lambda r: (r["estimated_ms"], r["size_bytes"]))
    others = [r for r in rows if r is not cheapest and r["similarity_passed"]]
    worst_other = max(r["pose_mAP50-95_drop"] for r in others)
    by = worst_other - cheapest["pose_mAP50-95_drop"] + 0.05
    arguments = strict_gate_arguments(trained, tmp_path, worse=cheapest["recipe"], by=by)
    chosen = select(**arguments, max_accuracy_drop=worst_other + 0.025)["chosen"]["recipe"]
    expected = min(others, key=lambda r: (r["estimated_ms"], r["size_bytes"], -r["pose"]["mAP50-95"]))
    assert chosen == expected["recipe"] != cheapest["recipe"] and expected["estimated_ms"] > cheapest["estimated_ms"]
    assert_same_bytes(tmp_path / "small.cvimodel", arguments["candidates"][chosen][0])


def test_cvimodel_build_time_is_fixed_and_its_md5_recomputed(trained):
    cvimodel = (trained / "results" / "small" / "small.cvimodel").read_bytes()
    assert cvimodel.count(b"1970-01-01 00:00:00") == 1 and cvimodel[:8] == b"CviModel"
    assert cvimodel[14:30] == hashlib.md5(cvimodel[48:]).digest()  # as model_deploy computes it
    work = trained / "results" / "small" / "quantize" / "int8" / "work"
    tool_output = (work / "small_int8.cvimodel").read_bytes()
    assert tool_output[14:30] == hashlib.md5(tool_output[48:]).digest() and b"1970-01-01" not in tool_output
    assert len(tool_output) == len(cvimodel)


def test_shipped_accuracy_sits_beside_the_float_figures(trained):
    metrics = json.loads((trained / "results" / "small" / "metrics.json").read_text())
    parts = {"model", "sources", "kpt_oks_sigmas", "pt", "onnx", "device_float", "cvimodel", "quantization"}
    assert set(metrics) == parts
    shipped, device = metrics["cvimodel"], metrics["device_float"]
    assert shipped["weights"] == "small.cvimodel" and shipped["images"] == device["images"]
    # the shipped figures are those its candidate measured, and its drop is against device_float's
    chosen = metrics["quantization"]["chosen"]["recipe"]
    measured = json.loads((trained / "results" / "small" / "quantize" / chosen / "metrics.json").read_text())
    assert all(shipped[part] == measured[part] for part in ("box", "pose", "per_class"))
    row = next(r for r in metrics["quantization"]["candidates"] if r["recipe"] == chosen)
    drop = device["pose"]["mAP50-95"] - shipped["pose"]["mAP50-95"]
    assert row["pose_mAP50-95_drop"] == pytest.approx(drop, abs=1e-6)


def test_a_candidate_s_scores_are_the_same_bytes_from_one_shard_as_from_several(trained, tmp_path):
    """The candidate's simulation and scoring again in one shard, against the build's several
    (each shard's images through a simulator process and a scoring job of their own);
    tests/test_slurm.py does three as Slurm jobs."""
    shards = 1 if VAL_SHARDS > 1 else 2
    workdir = copied_build(trained, tmp_path)
    recipe = Path("results/small/quantize/int8")
    sharded = ["--set-scatter", f"val_shards={shards}"]
    run_snakemake(workdir, small_model_config(), str(recipe / "metrics.json"), extra=sharded)
    shard_dirs = sorted((workdir / recipe / "val-outputs").glob(f"*-of-{shards}"))
    images = [len(json.loads((d / "index.json").read_text())) for d in shard_dirs]
    val_images = json.loads((trained / recipe / "metrics.json").read_text())["images"]
    assert len(images) == shards and sum(images) == val_images
    assert max(images) - min(images) <= 1
    for name in ("metrics.json", "val-stats.npz"):
        assert_same_bytes(workdir / recipe / name, trained / recipe / name, f"{shards} shards against {VAL_SHARDS}")


def test_a_missed_similarity_is_recorded_and_the_model_still_built(trained, tmp_path):
    report = build_trained_candidate(
        trained, tmp_path, Recipe.from_config({"name": "int8"}), deploy_tolerance=[0.9999, 0.9999]
    )
    assert report["similarity_passed"] is False
    assert any(not b["passed"] for b in report["similarity"]["deploy"])
    assert "[FAILED]" in (tmp_path / "work" / "logs" / "deploy.log").read_text()  # the tools' own verdict
    assert (tmp_path / "small.cvimodel").read_bytes()[:8] == b"CviModel"  # built again, unchecked


def test_a_head_layer_that_is_not_in_the_model_is_named(trained, tmp_path):
    recipe = Recipe.from_config({"name": "head", "bf16_layers": "head", "head_from": ["/model.22/nothing_Conv"]})
    with pytest.raises(PosepipeError) as error:
        build_trained_candidate(trained, tmp_path, recipe)
    assert str(error.value) == "quantize.recipes: head: head_from: no layer /model.22/nothing_Conv in small.mlir"
    assert not (tmp_path / "small.cvimodel").exists()
