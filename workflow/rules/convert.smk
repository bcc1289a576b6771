rule convert:
    input:
        unpack(dataset_inputs),
    output:
        directory("results/datasets/{dataset}"),
    log:
        "results/logs/convert/{dataset}.log",
    cache: True
    conda:
        "../../envs/convert.yaml"
    threads: 2
    params:
        flip_idx=lambda wildcards: DATASETS[wildcards.dataset].get("flip_idx"),
        annotations_frame=lambda wildcards: DATASETS[wildcards.dataset].get(
            "annotations_frame"
        ),
        kpt_oks_sigmas=lambda wildcards: DATASETS[wildcards.dataset].get(
            "kpt_oks_sigmas"
        ),
        split=export_split,
    script:
        "../scripts/convert.py"


# the converted dataset of the `model` wildcard's model: the input of every rule after training
model_dataset = of_model_dataset(rules.convert.output[0])
