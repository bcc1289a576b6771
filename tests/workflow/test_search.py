"""A search over architectures and input sizes, through Snakemake: its plan, a tiny 2-point
search built to its .mud and app, the choice against the selection rule, the failure when no
point meets the target, and what a change reruns."""

import json
import shutil

import pytest
import yaml
from posepipe.evaluation.search import choose_across
from support.paths import REPO
from support.runs import planned_counts, run_snakemake, search_config

GRID = {"architectures": ["yolov8n-pose.yaml", "yolo11n-pose.yaml"], "imgsz": [[64, 96], [96, 128]]}


def test_a_2_by_2_search_plans_4_trainings_one_selection_and_one_mud(tmp_path):
    counts = planned_counts(tmp_path, search_config(**GRID), "results/poses.mud")
    assert counts["train"] == 4 and counts["select_cvimodel"] == 4
    assert counts["select_search"] == 1 and counts["package_search"] == 1 and "package" not in counts
    more = {**GRID, "points": [{"architecture": "yolov8n-pose.yaml", "imgsz": [128, 160]}]}
    added = planned_counts(tmp_path, search_config(**more), "results/poses.mud")
    assert added["train"] == 5 and added["select_search"] == 1
    everything = planned_counts(tmp_path, search_config(**GRID), "all")
    assert {"app_search", "report_search"} <= set(everything) and everything["train"] == 4


@pytest.fixture(scope="module")
def two_points(tmp_path_factory):
    """A tiny 2-point search (one architecture at two input sizes, one recipe) built whole."""
    workdir = tmp_path_factory.mktemp("search")
    config = search_config(architectures=["yolov8n-pose.yaml"], imgsz=[[64, 96], [96, 128]])
    config["quantize"]["recipes"] = [{"name": "bf16", "precision": "BF16"}]
    result = run_snakemake(workdir, config, "all")
    (workdir / "run-output.txt").write_text(result.stdout + result.stderr)
    return workdir, config


def test_a_tiny_search_ships_what_the_selection_rule_gives_on_its_rows(two_points):
    workdir, config = two_points
    record = json.loads((workdir / "results" / "poses" / "search.json").read_text())
    rows = [{key: value for key, value in row.items() if key != "why"} for row in record["rows"]]
    assert {row["point"] for row in rows} == {"poses.yolov8n-pose_64x96", "poses.yolov8n-pose_96x128"}
    again, _ = choose_across(rows, 30, "fail", "poses")
    assert (record["chosen"]["point"], record["chosen"]["recipe"]) == (again["point"], again["recipe"])
    shipped = workdir / "results" / "poses.cvimodel"
    candidate = workdir / "results" / again["point"] / "quantize" / "bf16" / f"{again['point']}.cvimodel"
    assert shipped.read_bytes() == candidate.read_bytes()
    assert "model = poses.cvimodel" in (workdir / "results" / "poses.mud").read_text()
    app = workdir / "results" / "poses_app"
    assert f"KEYPOINT_TH = {record['chosen']['thresholds']['keypoint_th']!r}" in (app / "main.py").read_text()
    assert list((app / "dist").glob("posepipe_poses_v*.zip"))
    frontier = (workdir / "results" / "poses" / "report" / "frontier.rst").read_text()
    assert "data:image/png;base64," in frontier and record["chosen"]["point"] in frontier
    # the end of the run says what the search shipped and why, from search.json
    chosen = record["chosen"]
    said = (workdir / "run-output.txt").read_text()
    assert "posepipe: search poses built: 2 points, 2 (point, recipe) pairs" in said
    assert f"  shipped   {chosen['point']} bf16: {chosen['reason']}" in said


def test_a_target_no_point_meets_fails_in_one_line_naming_the_fastest(two_points, tmp_path):
    built, config = two_points
    workdir = tmp_path / "copy"  # the failed job deletes its outputs: not those of the shared build
    shutil.copytree(built, workdir, symlinks=True)
    record = json.loads((workdir / "results" / "poses" / "search.json").read_text())
    fastest = max(record["rows"], key=lambda row: row["estimated_fps"])
    config = json.loads(json.dumps(config))
    config["searches"]["poses"]["target_fps"] = 100000
    result = run_snakemake(workdir, config, "results/poses/search.json", check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    expected = (
        f"posepipe: error: search poses: no point meets target_fps 100000: the fastest, {fastest['point']} bf16, "
        f"is estimated at {fastest['estimated_fps']:.1f} fps"
    )
    assert expected in result.stderr


def test_a_new_target_reruns_the_selection_and_a_new_point_trains_only_itself(two_points):
    workdir, config = two_points
    config = json.loads(json.dumps(config))
    config["searches"]["poses"]["target_fps"] = 40
    assert set(planned_counts(workdir, config, "all")) == {
        "select_search", "package_search", "app_search", "report_search", "all",
    }  # fmt: skip
    config["searches"]["poses"]["points"] = [{"architecture": "yolov8n-pose.yaml", "imgsz": [64, 64]}]
    added = planned_counts(workdir, config, "all")
    assert added["train"] == 1 and added["select_cvimodel"] == 1 and added["select_search"] == 1


def test_a_point_is_the_model_configured_by_hand_with_its_name(two_points):
    """The same settings under `models:` make the same jobs with the same params: nothing to do."""
    workdir, config = two_points
    by_hand = json.loads(json.dumps(config))
    search = by_hand.pop("searches")["poses"]
    shared = {key: value for key, value in search.items() if key not in ("target_fps", "architectures", "imgsz")}
    name = "poses.yolov8n-pose_64x96"
    by_hand["models"] = {name: {**shared, "architecture": "yolov8n-pose.yaml", "imgsz": [64, 96]}}
    assert planned_counts(workdir, by_hand, f"results/{name}/{name}.cvimodel") == {}


def test_the_readme_s_demo_search_plans_its_two_points(tmp_path):
    """config/search-demo.yaml, merged over config/config.yaml as its comment says."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config |= yaml.safe_load((REPO / "config" / "search-demo.yaml").read_text())
    counts = planned_counts(tmp_path, config, "results/demo_search.mud")
    assert counts["train"] == 2 and counts["select_search"] == 1 and counts["package_search"] == 1
