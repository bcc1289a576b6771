# A search over architectures and input sizes: every point is a model built by the rules above;
# here the (point, recipe) that ships is chosen across them (posepipe.evaluation.search), then
# packaged, given its app and drawn as a frontier in the report.

search_dataset = of_search_dataset(rules.convert.output[0])


rule select_search:
    input:
        unpack(
            search_candidates(
                rules.select_cvimodel.output.report,
                rules.quantize_candidate.output.cvimodel,
                rules.validate_candidate.output.metrics,
            )
        ),
    output:
        json="results/{search}/search.json",
        cvimodel="results/{search}/{search}.cvimodel",
    log:
        "results/logs/search/{search}.select.log",
    conda:
        "../../envs/train.yaml"
    params:
        points=search_points_described,
        recipes=list(RECIPES),
        target_fps=search_setting("target_fps"),
        if_no_point_meets=search_setting("if_no_point_meets"),
        measured_fps=search_setting("measured_fps"),
        speed=DEVICE_SPEED,
    script:
        "../scripts/select_search.py"


rule package_search:
    input:
        unpack(
            search_point_files(
                report=rules.select_cvimodel.output.report,
                onnx=rules.prune.output.onnx,
                pruned=rules.prune.output.outputs,
                provenance=rules.provenance.output[0],
            )
        ),
        search=rules.select_search.output.json,
        cvimodel=rules.select_search.output.cvimodel,
        dataset=search_dataset,
    output:
        mud="results/{search}.mud",
        cvimodel="results/{search}.cvimodel",
        labels="results/{search}_labels.txt",
        zip="results/{search}_maixcam.zip",
        metrics="results/{search}_search.json",
    log:
        "results/logs/package/{search}.log",
    conda:
        "../../envs/train.yaml"
    params:
        points=lambda wildcards: list(SEARCH_POINTS[wildcards.search]),
        labels=search_setting("labels"),
    script:
        "../scripts/package_search.py"


rule app_search:
    input:
        mud=rules.package_search.output.mud,
        cvimodel=rules.package_search.output.cvimodel,
        labels=rules.package_search.output.labels,
        metrics=rules.select_search.output.json,
        dataset=search_dataset,
        maixtool=rules.maixtool_venv.output[0],
    output:
        directory("results/{search}_app"),
    log:
        "results/logs/app/{search}.log",
    conda:
        "../../envs/train.yaml"
    params:
        name="{search}",
        figures_of="search",
        settings=APP,
        maixtool=lambda wildcards, input: input.maixtool.removesuffix(".ready"),
    script:
        "../scripts/app.py"


rule report_search:
    input:
        search=rules.select_search.output.json,
    output:
        report(
            "results/{search}/report/frontier.rst",
            category="search {search}",
            caption="../report/search.rst",
        ),
    log:
        "results/logs/report/{search}.search.log",
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/report_search.py"
