rule provenance:
    input:
        unpack(model_sources),
        dataset=model_dataset,
        weights="results/{model}/train/best.pt",
        machine=rules.train.output.machine,
        onnx="results/{model}/{model}.onnx",
        pruned_onnx="results/{model}/{model}_pruned.onnx",
        cvimodel=rules.quantize.output.cvimodel,
        metrics="results/{model}/metrics.json",
        report=rules.quantize.output.report,
    output:
        "results/{model}/provenance.json",
    log:
        "results/logs/provenance/{model}.log",
    conda:
        "../../envs/train.yaml"
    params:
        settings=provenance_settings,
        sources=lambda wildcards: sorted(model_sources(wildcards)),
    script:
        "../scripts/provenance.py"
