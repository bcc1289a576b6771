# The TPU-MLIR tools' environment is shared by every clone and run on the machine, so it must be
# rebuilt only when what it is built from changes: that is hashed into its path (TPU_MLIR_KEY).
# `run:` rather than `script:`, since Snakemake reruns a script rule whose script file is newer
# than its output, which every fresh clone's is. No inputs for the same reason. threads 0: the
# build is mostly pip downloading and unpacking, and must not hold back training.
rule tpu_mlir_venv:
    output:
        f"{TPU_MLIR_VENV}.ready",
    log:
        "results/logs/tpu_mlir_venv.log",
    threads: 0
    params:
        python=QUANTIZE["python310"],
        tpu_mlir_version=QUANTIZE["tpu_mlir_version"],
    run:
        in_rule_log(
            log[0],
            ensure_venv,
            params.python,
            TPU_MLIR_VENV,
            params.tpu_mlir_version,
            TPU_MLIR_REQUIREMENTS,
            f"{log[0]}.tools",
            output[0],
        )


rule tpu_mlir_image:
    output:
        f"results/.tpu-mlir/image-{TPU_MLIR_KEY}.id",
    log:
        "results/logs/tpu_mlir_image.log",
    conda:
        "../../envs/tpu_mlir.yaml"
    threads: 0
    params:
        tag=TPU_MLIR_IMAGE,
        base_image=QUANTIZE["docker_base_image"],
        build_network=QUANTIZE["docker_build_network"],
        tpu_mlir_version=QUANTIZE["tpu_mlir_version"],
    script:
        "../scripts/tpu_mlir_image.py"


rule quantize:
    input:
        onnx="results/{model}/{model}_pruned.onnx",
        outputs="results/{model}/{model}_pruned.json",
        dataset=model_dataset,
        tools=tpu_mlir_ready,
    output:
        cvimodel=f"results/{{model}}/{{model}}_{CVIMODEL_TAG}.cvimodel",
        report="results/{model}/quantize/report.json",
        tool_logs=directory("results/{model}/quantize/tool-logs"),
    log:
        "results/logs/quantize/{model}.log",
    conda:
        "../../envs/tpu_mlir.yaml"
    threads: 2
    resources:
        mem_mb=3000,
    params:
        settings=QUANTIZE,
        imgsz=model_setting("imgsz"),
        runner=lambda wildcards: tpu_mlir_runner(),
        location=lambda wildcards: tpu_mlir_location(),
        # TPU-MLIR writes fixed-name files: every model gets its own work folder
        work_dir="results/{model}/quantize/work",
    script:
        "../scripts/quantize.py"


rule validate_int8:
    input:
        cvimodel=rules.quantize.output.cvimodel,
        dataset=model_dataset,
        tools=tpu_mlir_ready,
    output:
        "results/{model}/metrics/int8.json",
    log:
        "results/logs/validate/{model}.int8.log",
    conda:
        "../../envs/train.yaml"
    params:
        runner=lambda wildcards: tpu_mlir_runner(),
        location=lambda wildcards: tpu_mlir_location(),
        imgsz=model_setting("imgsz"),
        work_dir="results/{model}/quantize/int8-eval",
        ultralytics_config=ULTRALYTICS_CONFIG,
    script:
        "../scripts/validate_int8.py"
