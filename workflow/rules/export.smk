from posepipe.training.export import missing_package


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


def export_other_weights(wildcards):
    """Refuse, while the DAG is built, a format whose package is not installed."""
    if missing := missing_package(wildcards.format):
        raise WorkflowError(
            f"export format '{wildcards.format}' needs {missing}, which is not installed"
        )
    return expand(rules.train.output.weights, model=wildcards.model)[0]


rule export_other:
    input:
        weights=export_other_weights,
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
