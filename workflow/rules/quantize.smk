# No inputs: the recipe files (envs/) are hashed into the output's path, which is what must
# change with them; an absolute input path would rerun these whenever another clone runs here.
rule tpu_mlir_venv:
    output:
        f"{TPU_MLIR_VENV}/.complete",
    log:
        "results/logs/tpu_mlir_venv.log",
    conda:
        "../../envs/tpu_mlir.yaml"
    params:
        python=QUANTIZE["python310"],
        tpu_mlir_version=QUANTIZE["tpu_mlir_version"],
    script:
        "../scripts/tpu_mlir_venv.py"


rule tpu_mlir_image:
    output:
        f"results/.tpu-mlir/image-{TPU_MLIR_KEY}.id",
    log:
        "results/logs/tpu_mlir_image.log",
    conda:
        "../../envs/tpu_mlir.yaml"
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
