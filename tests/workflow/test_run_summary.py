"""The end of a run that built a model: its block, checked line by line against metrics.json."""

import json

from support.runs import copied_build, run_snakemake, small_model_config


def test_a_run_that_packages_a_model_ends_with_what_it_built(trained, tmp_path):
    workdir = copied_build(trained, tmp_path)
    result = run_snakemake(workdir, small_model_config(), "results/small.mud", extra=["--forcerun", "package"])
    metrics = json.loads((workdir / "results" / "small" / "metrics.json").read_text())
    block = result.stdout[result.stdout.index("posepipe: small built") :]
    shipped, chosen = metrics["cvimodel"], metrics["quantization"]["chosen"]
    row = next(r for r in metrics["quantization"]["candidates"] if r["recipe"] == chosen["recipe"])
    low, high = shipped["pose_mAP50-95_interval"]
    expected = [
        f"{chosen['recipe']}: {chosen['reason']}",
        f"pose mAP50-95 {shipped['pose']['mAP50-95']:.3f}, box mAP50 {shipped['box']['mAP50']:.3f} "
        f"[95% interval of pose {low:.3f}, {high:.3f}] on {shipped['images']} val images",
        f"conf_th {shipped['thresholds']['conf_th']}, keypoint_th {shipped['thresholds']['keypoint_th']}",
        f"pose mAP50-95 {metrics['pt']['pose']['mAP50-95']:.3f}, box mAP50 {metrics['pt']['box']['mAP50']:.3f}",
        f"about {row['estimated_ms']:.1f} ms a frame ({row['estimated_fps']:.0f} fps)",
        "app_store_cli install /root/",
    ]
    assert [line for line in expected if line not in block] == []
    assert low <= shipped["pose"]["mAP50-95"] <= high
