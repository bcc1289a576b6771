rule train:
    input:
        unpack(pretrained_weights),
        dataset=model_dataset,
    output:
        multiext(
            "results/{model}/train/",
            weights="best.pt",
            results="results.csv",
            args="args.yaml",
            curves="results.png",
            machine="machine.json",
        ),
    log:
        "results/logs/train/{model}.log",
    # a result that depends only on inputs and params: reusable from SNAKEMAKE_OUTPUT_CACHE
    cache: True
    conda:
        "../../envs/train.yaml"
    threads: training_threads
    resources:
        device=model_setting("device"),
        mem_mb=4000,
    params:
        architecture=model_setting("architecture"),
        imgsz=model_setting("imgsz"),
        epochs=model_setting("epochs"),
        batch=model_setting("batch"),
        seed=model_setting("seed"),
        patience=model_setting("patience"),
        # Ultralytics' own run folder: not an output, so a failed job keeps its checkpoint
        run_dir="results/{model}/train-run",
        ultralytics_config=ULTRALYTICS_CONFIG,
    script:
        "../scripts/train.py"
