# TPU-MLIR builds every quantization candidate of a model; rules/candidates.smk scores them
# and selects the one that ships.

from posepipe.tpu_mlir.commands import CONFIGURED_KEYS


# The float MLIR every recipe starts from, once per model.
rule quantize_transform:
    input:
        onnx=rules.prune.output.onnx,
        outputs=rules.prune.output.outputs,
        dataset=model_dataset,
        tools=lambda wildcards: TPU_MLIR.prerequisite(),
    output:
        directory("results/{model}/quantize/transform"),
    log:
        "results/logs/quantize/{model}.transform.log",
    conda:
        "../../envs/tpu-mlir.yaml"
    threads: 2
    resources:
        mem_mb=3000,
    params:
        settings={key: QUANTIZE[key] for key in CONFIGURED_KEYS},
        imgsz=model_setting("imgsz"),
        runner=lambda wildcards: TPU_MLIR.kind,
        location=lambda wildcards: TPU_MLIR.location(),
    script:
        "../scripts/quantize_transform.py"


# INT8 thresholds by calibration method, shared by the recipes that use the method.
rule quantize_calibrate:
    input:
        transform=rules.quantize_transform.output[0],
        dataset=model_dataset,
        tools=lambda wildcards: TPU_MLIR.prerequisite(),
    output:
        "results/{model}/quantize/calibration/{method}.table",
    log:
        "results/logs/quantize/{model}.calibrate-{method}.log",
    benchmark:
        "results/benchmarks/quantize/{model}.calibrate-{method}.tsv"
    conda:
        "../../envs/tpu-mlir.yaml"
    threads: 2
    resources:
        mem_mb=3000,
    params:
        calibration_images=QUANTIZE["calibration_images"],
        runner=lambda wildcards: TPU_MLIR.kind,
        location=lambda wildcards: TPU_MLIR.location(),
        work_dir="results/{model}/quantize/calibration/{method}-work",
    script:
        "../scripts/quantize_calibrate.py"


# One cvimodel per recipe of quantize.recipes, each in its own folder (TPU-MLIR writes
# fixed-name files); its params are its own recipe only, so changing one reruns that one.
rule quantize_candidate:
    input:
        unpack(shared_calibration(rules.quantize_calibrate.output[0])),
        transform=rules.quantize_transform.output[0],
        dataset=model_dataset,
        tools=lambda wildcards: TPU_MLIR.prerequisite(),
    output:
        cvimodel="results/{model}/quantize/{recipe}/{model}.cvimodel",
        report="results/{model}/quantize/{recipe}/report.json",
        tool_logs=directory("results/{model}/quantize/{recipe}/tool-logs"),
    log:
        "results/logs/quantize/{model}.{recipe}.log",
    benchmark:
        "results/benchmarks/quantize/{model}.{recipe}.tsv"
    conda:
        "../../envs/tpu-mlir.yaml"
    threads: 2
    resources:
        mem_mb=3000,
    params:
        recipe=lambda wildcards: RECIPES[wildcards.recipe],
        calibration_images=QUANTIZE["calibration_images"],
        deploy_tolerance=QUANTIZE["deploy_tolerance"],
        runner=lambda wildcards: TPU_MLIR.kind,
        location=lambda wildcards: TPU_MLIR.location(),
        work_dir="results/{model}/quantize/{recipe}/work",
    script:
        "../scripts/quantize_candidate.py"
