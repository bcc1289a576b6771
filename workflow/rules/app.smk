rule app:
    input:
        mud=rules.package.output.mud,
        cvimodel=rules.package.output.cvimodel,
        labels=rules.package.output.labels,
        metrics=rules.metrics.output.json,
        dataset=model_dataset,
        maixtool=rules.maixtool_venv.output[0],
    output:
        directory("results/{model}_app"),
    log:
        "results/logs/app/{model}.log",
    conda:
        "../../envs/train.yaml"
    params:
        name="{model}",
        figures_of="model",
        settings=APP,
        # the environment beside its marker
        maixtool=lambda wildcards, input: input.maixtool.removesuffix(".ready"),
    script:
        "../scripts/app.py"
