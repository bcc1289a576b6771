"""Rule app and app_search: the MaixPy application of a model (or of what a search ships),
released with maixtool into an installable zip."""

import json
from pathlib import Path

from posepipe.infra.rule_entry import run_rule
from posepipe.packaging.app import build_app, model_figures, search_figures

sm = snakemake  # noqa: F821


def main():
    figures = {"model": model_figures, "search": search_figures}[sm.params.figures_of]
    thresholds, fps = figures(json.loads(Path(sm.input.metrics).read_text()))
    print(
        build_app(
            model=sm.params.name,
            mud=Path(sm.input.mud),
            cvimodel=Path(sm.input.cvimodel),
            labels=Path(sm.input.labels),
            thresholds=thresholds,
            fps=fps,
            dataset_dir=Path(sm.input.dataset),
            settings=sm.params.settings,
            maixtool=Path(sm.params.maixtool),
            out_dir=Path(sm.output[0]),
        )
    )


run_rule(main, sm.log[0])
