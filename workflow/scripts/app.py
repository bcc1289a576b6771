"""Rule app: the model's MaixPy application, released with maixtool into an installable zip."""

from pathlib import Path

from posepipe.infra.rule_entry import run_rule
from posepipe.packaging.app import build_app

sm = snakemake  # noqa: F821
run_rule(
    lambda: print(
        build_app(
            model=sm.wildcards.model,
            mud=Path(sm.input.mud),
            cvimodel=Path(sm.input.cvimodel),
            labels=Path(sm.input.labels),
            metrics=Path(sm.input.metrics),
            dataset_dir=Path(sm.input.dataset),
            settings=sm.params.settings,
            maixtool=Path(sm.params.maixtool),
            out_dir=Path(sm.output[0]),
        )
    ),
    sm.log[0],
)
