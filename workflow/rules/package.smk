rule package:
    input:
        cvimodel=rules.quantize.output.cvimodel,
        report=rules.quantize.output.report,
        onnx=rules.prune.output.onnx,
        pruned=rules.prune.output.outputs,
        dataset=model_dataset,
        # the figures of the very model being packaged travel with it
        metrics="results/{model}/metrics.json",
        provenance=rules.provenance.output[0],
    output:
        mud="results/{model}.mud",
        cvimodel=f"results/{{model}}_{CVIMODEL_TAG}.cvimodel",
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
