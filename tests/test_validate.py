"""Validation (posepipe.validate): the metrics table, Ultralytics' figures beside the device decoder's."""

import json

from conftest import run_snakemake, small_model_config


def test_device_metrics_beside_ultralytics(trained):
    run_snakemake(trained, small_model_config(), "results/small/metrics.json")
    metrics = json.loads((trained / "results" / "small" / "metrics.json").read_text())
    device = metrics["device_float"]
    assert device["decoder"]["padding"] == "black"
    assert set(device["box"]) == {"precision", "recall", "mAP50", "mAP50-95"}
    # the same model and images: the device's decoding costs little against Ultralytics' own
    assert abs(device["box"]["mAP50"] - metrics["onnx"]["box"]["mAP50"]) < 0.15
    from posepipe.validate import KEYPOINT_TH_GRID

    for source in ("device_float", "cvimodel"):  # the headline: the best keypoint_th measured, stated
        curve = metrics[source]["keypoint_th_curve"]
        assert [point["keypoint_th"] for point in curve] == list(KEYPOINT_TH_GRID)
        best = max(curve, key=lambda point: point["pose"]["mAP50-95"])
        assert (
            metrics[source]["pose"]
            == best["pose"]
            == next(
                point["pose"] for point in curve if point["keypoint_th"] == metrics[source]["decoder"]["keypoint_th"]
            )
        )


# ---- 3 and 6 classes through the whole chain: pruned, quantized, decoded, packaged ----
