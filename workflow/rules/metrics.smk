from posepipe.training.validate import METRIC_SOURCES


rule metrics:
    input:
        **{source: metrics_json(source) for source in METRIC_SOURCES},
        quantization=rules.select_cvimodel.output.report,
        dataset=model_dataset,
    output:
        json="results/{model}/metrics.json",
        csv="results/{model}/metrics.csv",
    log:
        "results/logs/metrics/{model}.log",
    conda:
        "../../envs/train.yaml"
    params:
        sources=list(METRIC_SOURCES),
    script:
        "../scripts/metrics.py"
