rule convert:
    input:
        unpack(dataset_inputs),
    output:
        directory("results/datasets/{dataset}"),
    log:
        "results/logs/convert/{dataset}.log",
    threads: 2
    params:
        flip_idx=lambda wildcards: DATASETS[wildcards.dataset].get("flip_idx"),
    conda:
        "../../envs/convert.yaml"
    script:
        "../scripts/convert.py"
