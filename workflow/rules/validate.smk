# The float model's figures: Ultralytics' validation of the .pt and ONNX, and the pruned ONNX
# decoded as the device decodes it.


rule validate:
    input:
        weights=weights_of_source(
            {"pt": rules.train.output.weights, "onnx": rules.export_onnx.output[0]}
        ),
        dataset=model_dataset,
    output:
        METRICS_JSON,
    log:
        "results/logs/validate/{model}.{source}.log",
    conda:
        "../../envs/train.yaml"
    threads: 1
    resources:
        device=model_setting("device"),
    params:
        imgsz=model_setting("imgsz"),
        batch=model_setting("batch"),
        work_dir="results/{model}/val-run/{source}",
        ultralytics_config=ULTRALYTICS_CONFIG,
    script:
        "../scripts/validate.py"


rule validate_device:
    input:
        onnx=rules.prune.output.onnx,
        dataset=model_dataset,
    output:
        metrics=metrics_json("device_float"),
        stats="results/{model}/val-stats/device_float.npz",
    log:
        "results/logs/validate/{model}.device_float.log",
    conda:
        "../../envs/train.yaml"
    params:
        thresholds=APP_THRESHOLDS,
        ultralytics_config=ULTRALYTICS_CONFIG,
    script:
        "../scripts/validate_device.py"
