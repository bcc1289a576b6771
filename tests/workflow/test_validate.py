"""Validation (posepipe.training.validate): the metrics table, Ultralytics' figures beside the device decoder's."""

import json
import shutil

import yaml
from support.runs import SMALL_IMGSZ, run_snakemake, small_model_config
from ultralytics.utils.metrics import OKS_SIGMA


def test_device_metrics_beside_ultralytics(trained):
    run_snakemake(trained, small_model_config(), "results/small/metrics.json")
    metrics = json.loads((trained / "results" / "small" / "metrics.json").read_text())
    device = metrics["device_float"]
    assert device["decoder"]["padding"] == "black"
    # each figure says what it is
    assert list(metrics["sources"]) == ["pt", "onnx", "device_float", "cvimodel"]
    assert metrics["sources"]["cvimodel"].endswith("what the device will show")
    assert "at its own thresholds" in metrics["sources"]["pt"]
    assert set(device["box"]) == {"precision", "recall", "mAP50", "mAP50-95"}
    # the same model on the same images; how far the two protocols' figures lie apart depends on
    # the weights (0.15 in box mAP50 with POSEPIPE_TEST_SEED=1), and the decoding itself is held
    # to Ultralytics' box by box in test_decoder.py
    val_images = list((trained / "results" / "datasets" / "demo" / "images" / "val").glob("*.jpg"))
    assert device["images"] == metrics["onnx"]["images"] == len(val_images) > 0
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


def test_the_per_keypoint_table_and_the_sigmas_used_are_in_metrics_json(trained):
    run_snakemake(trained, small_model_config(), "results/small/metrics.json")
    metrics = json.loads((trained / "results" / "small" / "metrics.json").read_text())
    sigmas = metrics["kpt_oks_sigmas"]
    data = yaml.safe_load((trained / "results" / "datasets" / "demo" / "data.yaml").read_text())
    assert sigmas["values"] == data["kpt_oks_sigmas"] == OKS_SIGMA.tolist() and sigmas["source"] == "assumed"
    tables = [metrics["device_float"]["keypoints"]["per_keypoint"]]
    tables += [row["keypoints"] for row in metrics["quantization"]["candidates"]]
    for table in tables:
        assert list(table) == data["kpt_names"][0]
        for figures in table.values():
            for figure in ("pck@0.05", "pck@0.1", "median_px_error", "shown"):
                if figures[figure] is not None:
                    low, high = figures[f"{figure}_interval"]
                    assert low <= figures[figure] <= high
    for row in metrics["quantization"]["candidates"]:
        assert row["worst_keypoint"]["keypoint"] in data["kpt_names"][0]
        assert row["within_gate"] == (row["outside_gate"] == [])


def test_the_sigmas_of_data_yaml_reach_ultralytics_validation_and_the_device_scoring(trained, tmp_path):
    """The same weights on the same images, with data.yaml's sigmas made ten times COCO's: pose
    mAP50-95 rises in Ultralytics' validation and in the device scoring alike; boxes do not move."""
    from posepipe.evaluation.device_metrics import evaluate_device_decoder
    from posepipe.training.validate import evaluate

    dataset = trained / "results" / "datasets" / "demo"
    wide = tmp_path / "wide"
    shutil.copytree(dataset, wide)
    data = yaml.safe_load((wide / "data.yaml").read_text())
    data["kpt_oks_sigmas"] = [10 * sigma for sigma in data["kpt_oks_sigmas"]]
    (wide / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    config_dir = trained / "results" / ".ultralytics"
    weights = trained / "results" / "small" / "train" / "best.pt"
    ultralytics = {
        name: evaluate(weights=weights, dataset_dir=folder, imgsz=SMALL_IMGSZ, batch=4, device="cpu",
                       work_dir=tmp_path / f"val-{name}", config_dir=config_dir)
        for name, folder in (("given", dataset), ("wide", wide))
    }  # fmt: skip
    app = {"conf_th": None, "iou_th": 0.45, "keypoint_th": None}
    pruned = trained / "results" / "small" / "small_pruned.onnx"
    device = {
        name: evaluate_device_decoder(pruned_onnx=pruned, dataset_dir=folder, app=app, config_dir=config_dir)[0]
        for name, folder in (("given", dataset), ("wide", wide))
    }
    for figures in (ultralytics, device):
        assert figures["wide"]["pose"]["mAP50-95"] > figures["given"]["pose"]["mAP50-95"]
        assert figures["wide"]["box"] == figures["given"]["box"]
