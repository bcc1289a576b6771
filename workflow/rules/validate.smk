rule validate:
    input:
        weights=validated_weights,
        dataset=model_dataset,
    output:
        "results/{model}/metrics/{source}.json",
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
        expand("results/{{model}}/metrics/{source}.json", source=METRIC_SOURCES),
    output:
        json="results/{model}/metrics.json",
        csv="results/{model}/metrics.csv",
    log:
        "results/logs/metrics/{model}.log",
    conda:
        "../../envs/train.yaml"
    params:
        sources=METRIC_SOURCES,
    script:
        "../scripts/metrics.py"


rule validate_device:
    input:
        onnx="results/{model}/{model}_pruned.onnx",
        dataset=model_dataset,
    output:
        "results/{model}/metrics/device_float.json",
    log:
        "results/logs/validate/{model}.device_float.log",
    conda:
        "../../envs/train.yaml"
    params:
        ultralytics_config=ULTRALYTICS_CONFIG,
    script:
        "../scripts/validate_device.py"
