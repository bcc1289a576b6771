rule validate:
    input:
        weights=validated_weights,
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


rule metrics:
    input:
        **{source: metrics_json(source) for source in METRIC_SOURCES},
        quantization=rules.select_cvimodel.output.report,
    output:
        json="results/{model}/metrics.json",
        csv="results/{model}/metrics.csv",
    log:
        "results/logs/metrics/{model}.log",
    conda:
        "../../envs/train.yaml"
    params:
        sources=list(METRIC_SOURCES),
    script:
        "../scripts/metrics.py"


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


# A candidate's simulator outputs decoded as the device decodes: what the device will score,
# known before anything is flashed.
rule validate_candidate:
    input:
        outputs=rules.simulate_candidate.output[0],
        cvimodel=rules.quantize_candidate.output.cvimodel,
        dataset=model_dataset,
    output:
        metrics="results/{model}/quantize/{recipe}/metrics.json",
        stats="results/{model}/quantize/{recipe}/val-stats.npz",
    log:
        "results/logs/validate/{model}.{recipe}.log",
    benchmark:
        "results/benchmarks/validate/{model}.{recipe}.tsv"
    conda:
        "../../envs/train.yaml"
    params:
        imgsz=model_setting("imgsz"),
        thresholds=APP_THRESHOLDS,
        ultralytics_config=ULTRALYTICS_CONFIG,
    script:
        "../scripts/validate_candidate.py"
