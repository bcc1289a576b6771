# MaixPy's packager in a shared environment of its own, like tpu_mlir_venv (see there why run:).
rule maixtool_venv:
    output:
        f"{MAIXTOOL_VENV}.ready",
    log:
        "results/logs/maixtool_venv.log",
    threads: 0
    run:
        in_rule_log(
            log[0],
            ensure_maixtool,
            venv=MAIXTOOL_VENV,
            requirements=MAIXTOOL_REQUIREMENTS,
            log_file=f"{log[0]}.tools",
            ready=output[0],
        )


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
        settings=APP,
        # the environment beside its marker
        maixtool=lambda wildcards, input: input.maixtool.removesuffix(".ready"),
    script:
        "../scripts/app.py"
