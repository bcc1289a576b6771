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


# A shard of a candidate's simulator outputs decoded as the device decodes and matched with the
# ground truth; rule validate_candidate gathers the shards.
rule score_candidate_shard:
    input:
        outputs=rules.simulate_candidate.output[0],
        dataset=model_dataset,
    output:
        "results/{model}/quantize/{recipe}/val-scores/{scatteritem}.pickle",
    log:
        "results/logs/validate/{model}.{recipe}.score-{scatteritem}.log",
    benchmark:
        "results/benchmarks/validate/{model}.{recipe}.score-{scatteritem}.tsv"
    conda:
        "../../envs/train.yaml"
    params:
        imgsz=model_setting("imgsz"),
        thresholds=APP_THRESHOLDS,
        ultralytics_config=ULTRALYTICS_CONFIG,
    script:
        "../scripts/score_candidate_shard.py"


# A candidate's scored shards summed up: what the device will score, known before anything is
# flashed, the same whatever the number of shards.
rule validate_candidate:
    input:
        scores=gather.val_shards(
            "results/{{model}}/quantize/{{recipe}}/val-scores/{scatteritem}.pickle"
        ),
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
