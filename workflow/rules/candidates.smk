# The candidate chain: each cvimodel through the simulator on the val images in shards
# (simulate -> score), the shards gathered (validate_candidate), and the one that ships
# chosen (select_cvimodel).


# A shard of the val images through a candidate in TPU-MLIR's host simulator, in the TPU-MLIR
# environment like every rule that runs a TPU-MLIR tool; rule score_candidate_shard scores it.
rule simulate_candidate:
    input:
        cvimodel=rules.quantize_candidate.output.cvimodel,
        dataset=model_dataset,
        tools=lambda wildcards: TPU_MLIR.prerequisite(),
    output:
        directory("results/{model}/quantize/{recipe}/val-outputs/{scatteritem}"),
    log:
        "results/logs/quantize/{model}.{recipe}.simulate-{scatteritem}.log",
    benchmark:
        "results/benchmarks/quantize/{model}.{recipe}.simulate-{scatteritem}.tsv"
    conda:
        "../../envs/tpu-mlir.yaml"
    params:
        runner=lambda wildcards: TPU_MLIR.kind,
        location=lambda wildcards: TPU_MLIR.location(),
        imgsz=model_setting("imgsz"),
        shard=val_shard,
        work_dir="results/{model}/quantize/{recipe}/val-run/{scatteritem}",
    script:
        "../scripts/simulate_candidate.py"


VAL_SCORES = "results/{model}/quantize/{recipe}/val-scores/{scatteritem}.pickle"


# A shard of a candidate's simulator outputs decoded as the device decodes and matched with the
# ground truth; rule validate_candidate gathers the shards.
rule score_candidate_shard:
    input:
        outputs=rules.simulate_candidate.output[0],
        dataset=model_dataset,
    output:
        VAL_SCORES,
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
            VAL_SCORES.replace("{model}", "{{model}}").replace(
                "{recipe}", "{{recipe}}"
            )
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


# The cheapest candidate within quantize.max_accuracy_drop of the float model ships.
rule select_cvimodel:
    input:
        unpack(
            candidate_files(
                rules.validate_device.output,
                rules.quantize_candidate.output,
                rules.validate_candidate.output,
            )
        ),
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
        max_keypoint_drop=QUANTIZE["max_keypoint_drop"],
        if_none_within_gate=QUANTIZE["if_none_within_gate"],
        # the speed model's constants (bench/device_speed.py): a new fit reruns the choice
        speed=DEVICE_SPEED,
        # the drop's interval resamples Ultralytics' mAP: its settings stay out of $HOME
        ultralytics_config=ULTRALYTICS_CONFIG,
    script:
        "../scripts/select_cvimodel.py"
