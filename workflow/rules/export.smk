rule export_onnx:
    input:
        weights=rules.train.output.weights,
    output:
        "results/{model}/{model}.onnx",
    log:
        "results/logs/export/{model}.onnx.log",
    cache: True
    conda:
        "../../envs/train.yaml"
    params:
        imgsz=model_setting("imgsz"),
        opset=model_setting("opset"),
        work_dir="results/{model}/export-run/onnx",
        ultralytics_config=ULTRALYTICS_CONFIG,
    script:
        "../scripts/export.py"


rule export_other:
    input:
        weights=installed_format(rules.train.output.weights),
    output:
        directory("results/{model}/export/{format}"),
    log:
        "results/logs/export/{model}.{format}.log",
    conda:
        "../../envs/train.yaml"
    params:
        imgsz=model_setting("imgsz"),
        work_dir="results/{model}/export-run/{format}",
        ultralytics_config=ULTRALYTICS_CONFIG,
    script:
        "../scripts/export.py"
