rule train:
    input:
        dataset=model_dataset,
    output:
        weights="results/{model}/train/weights/best.pt",
        results="results/{model}/train/results.csv",
        args="results/{model}/train/args.yaml",
        curves="results/{model}/train/results.png",
    log:
        "results/logs/train/{model}.log",
    conda:
        "../../envs/train.yaml"
    threads: 2
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
