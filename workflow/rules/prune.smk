rule prune:
    input:
        onnx=rules.export_onnx.output[0],
        dataset=model_dataset,
    output:
        multiext("results/{model}/{model}_pruned", onnx=".onnx", outputs=".json"),
    log:
        "results/logs/prune/{model}.log",
    cache: True
    conda:
        "../../envs/train.yaml"
    params:
        explicit_outputs=model_setting("prune_outputs"),
        ultralytics_config=ULTRALYTICS_CONFIG,
    script:
        "../scripts/prune.py"
