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
    script:
        "../scripts/convert.py"


def model_dataset(wildcards):
    """The converted dataset a model is trained and scored on."""
    return expand(rules.convert.output[0], dataset=MODELS[wildcards.model]["dataset"])[
        0
    ]
