"""Validation (posepipe.training.validate): the metrics table, Ultralytics' figures beside the device decoder's."""

import json

from support.runs import run_snakemake, small_model_config


def test_device_metrics_beside_ultralytics(trained):
    run_snakemake(trained, small_model_config(), "results/small/metrics.json")
    metrics = json.loads((trained / "results" / "small" / "metrics.json").read_text())
    device = metrics["device_float"]
    assert device["decoder"]["padding"] == "black"
    assert set(device["box"]) == {"precision", "recall", "mAP50", "mAP50-95"}
    # the same model and images: the device's decoding costs little against Ultralytics' own
    assert abs(device["box"]["mAP50"] - metrics["onnx"]["box"]["mAP50"]) < 0.15
    from posepipe.evaluation.thresholds import CONF_TH_GRID, KEYPOINT_TH_GRID

    for source in ("device_float", "cvimodel"):
        result = metrics[source]
        chosen, curve = result["thresholds"], result["keypoint_th_curve"]
        # nothing pinned in the config: each threshold is its curve's F1-best, stated, at the app's iou_th
        assert [point["keypoint_th"] for point in curve] == list(KEYPOINT_TH_GRID)
        assert [point["conf_th"] for point in result["conf_th_curve"]] == list(CONF_TH_GRID)
        assert chosen["keypoint_th"] == max(curve, key=lambda p: (p["f1"], -p["keypoint_th"]))["keypoint_th"]
        best_conf = max(result["conf_th_curve"], key=lambda p: (p["f1"], -p["conf_th"]))
        assert chosen["conf_th"] == best_conf["conf_th"] and chosen["detection_f1"] == best_conf["f1"]
        assert chosen["keypoint_th_from"] == chosen["conf_th_from"] == "the F1-best on the val images"
        assert chosen["iou_th"] == result["decoder"]["iou_th"] == 0.45
        for point in curve + result["conf_th_curve"]:
            low, high = point["f1_interval"]
            assert 0 <= low <= high <= 1 and set(point) >= {"precision", "recall", "f1"}
        # the headline: pose figures at the chosen keypoint_th
        at_chosen = next(p for p in curve if p["keypoint_th"] == chosen["keypoint_th"])
        assert result["pose"] == at_chosen["pose"] and result["decoder"]["keypoint_th"] == chosen["keypoint_th"]


# ---- 3 and 6 classes through the whole chain: pruned, quantized, decoded, packaged ----
