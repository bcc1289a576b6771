rule demo_dataset:
    output:
        train_json="results/demo/annotations/train.json",
        val_json="results/demo/annotations/val.json",
        train_images=directory("results/demo/images/train"),
        val_images=directory("results/demo/images/val"),
    log:
        "results/logs/demo_dataset.log",
    conda:
        "../../envs/demo.yaml"
    params:
        seed=config["demo"]["seed"],
        split_sizes={
            "train": config["demo"]["train_images"],
            "val": config["demo"]["val_images"],
        },
        width=config["demo"]["width"],
        height=config["demo"]["height"],
        panels=config["demo"]["panels"],
    script:
        "../scripts/demo.py"
