# The float MLIR every recipe starts from, once per model.
rule quantize_transform:
    input:
        onnx=rules.prune.output.onnx,
        outputs=rules.prune.output.outputs,
        dataset=model_dataset,
        tools=tpu_mlir_ready,
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
        runner=lambda wildcards: tpu_mlir_runner(),
        location=lambda wildcards: tpu_mlir_location(),
    script:
        "../scripts/quantize_transform.py"


# INT8 thresholds by calibration method, shared by the recipes that use the method.
rule quantize_calibrate:
    input:
        transform=rules.quantize_transform.output[0],
        dataset=model_dataset,
        tools=tpu_mlir_ready,
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
        runner=lambda wildcards: tpu_mlir_runner(),
        location=lambda wildcards: tpu_mlir_location(),
        work_dir="results/{model}/quantize/calibration/{method}-work",
    script:
        "../scripts/quantize_calibrate.py"


# One cvimodel per recipe of quantize.recipes, each in its own folder (TPU-MLIR writes
# fixed-name files); its params are its own recipe only, so changing one reruns that one.
rule quantize_candidate:
    input:
        unpack(shared_calibration),
        transform=rules.quantize_transform.output[0],
        dataset=model_dataset,
        tools=tpu_mlir_ready,
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
        runner=lambda wildcards: tpu_mlir_runner(),
        location=lambda wildcards: tpu_mlir_location(),
        work_dir="results/{model}/quantize/{recipe}/work",
    script:
        "../scripts/quantize_candidate.py"


# A shard of the val images through a candidate in TPU-MLIR's host simulator, in the TPU-MLIR
# environment like every rule that runs a TPU-MLIR tool; rule score_candidate_shard scores it.
rule simulate_candidate:
    input:
        cvimodel=rules.quantize_candidate.output.cvimodel,
        dataset=model_dataset,
        tools=tpu_mlir_ready,
    output:
        directory("results/{model}/quantize/{recipe}/val-outputs/{scatteritem}"),
    log:
        "results/logs/quantize/{model}.{recipe}.simulate-{scatteritem}.log",
    benchmark:
        "results/benchmarks/quantize/{model}.{recipe}.simulate-{scatteritem}.tsv"
    conda:
        "../../envs/tpu-mlir.yaml"
    params:
        runner=lambda wildcards: tpu_mlir_runner(),
        location=lambda wildcards: tpu_mlir_location(),
        imgsz=model_setting("imgsz"),
        shard=val_shard,
        work_dir="results/{model}/quantize/{recipe}/val-run/{scatteritem}",
    script:
        "../scripts/simulate_candidate.py"


# The cheapest candidate within quantize.max_accuracy_drop of the float model ships.
rule select_cvimodel:
    input:
        unpack(candidate_files),
        transform=rules.quantize_transform.output[0],
    output:
        cvimodel="results/{model}/{model}.cvimodel",
        report="results/{model}/quantize/report.json",
        metrics=metrics_json("cvimodel"),
    log:
        "results/logs/quantize/{model}.select.log",
    conda:
        "../../envs/train.yaml"
    params:
        recipes=list(RECIPES),
        max_accuracy_drop=QUANTIZE["max_accuracy_drop"],
        if_none_within_gate=QUANTIZE["if_none_within_gate"],
        # the speed model's constants (bench/device_speed.py): a new fit reruns the choice
        speed=DEVICE_SPEED,
        # the drop's interval resamples Ultralytics' mAP: its settings stay out of $HOME
        ultralytics_config=ULTRALYTICS_CONFIG,
    script:
        "../scripts/select_cvimodel.py"
