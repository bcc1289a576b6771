rule package:
    input:
        cvimodel=rules.select_cvimodel.output.cvimodel,
        report=rules.select_cvimodel.output.report,
        onnx=rules.prune.output.onnx,
        pruned=rules.prune.output.outputs,
        dataset=model_dataset,
        # the figures of the very model being packaged travel with it
        metrics=rules.metrics.output.json,
        provenance=rules.provenance.output[0],
    output:
        mud="results/{model}.mud",
        cvimodel="results/{model}.cvimodel",
        labels="results/{model}_labels.txt",
        zip="results/{model}_maixcam.zip",
        metrics="results/{model}_metrics.json",
    log:
        "results/logs/package/{model}.log",
    conda:
        "../../envs/train.yaml"
    params:
        labels=model_setting("labels"),
    script:
        "../scripts/package.py"
