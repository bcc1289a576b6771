rule provenance:
    input:
        unpack(model_sources),
        dataset=model_dataset,
        weights=rules.train.output.weights,
        machine=rules.train.output.machine,
        onnx=rules.export_onnx.output[0],
        pruned_onnx=rules.prune.output.onnx,
        cvimodel=rules.select_cvimodel.output.cvimodel,
        metrics=rules.metrics.output.json,
        report=rules.select_cvimodel.output.report,
    output:
        "results/{model}/provenance.json",
    log:
        "results/logs/provenance/{model}.log",
    conda:
        "../../envs/train.yaml"
    params:
        settings=provenance_settings,
        sources=lambda wildcards: sorted(model_sources(wildcards)),
        posepipe_version=POSEPIPE_VERSION,
    script:
        "../scripts/provenance.py"
