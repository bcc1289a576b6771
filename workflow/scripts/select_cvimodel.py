"""Rule select_cvimodel: the cheapest candidate within the accuracy gate is the one shipped."""

from pathlib import Path

from posepipe.evaluation.selection import select
from posepipe.infra.rule_entry import run_rule
from posepipe.training.ultralytics_env import prepare

sm = snakemake  # noqa: F821


def main():
    prepare(Path(sm.params.ultralytics_config))
    select(
        transform_json=Path(sm.input.transform) / "transform.json",
        candidates={
            recipe: tuple(Path(sm.input[f"{kind}_{recipe}"]) for kind in ("cvimodel", "report", "metrics", "stats"))
            for recipe in sm.params.recipes
        },
        reference_metrics=Path(sm.input.reference),
        reference_stats=Path(sm.input.reference_stats),
        max_accuracy_drop=sm.params.max_accuracy_drop,
        max_keypoint_drop=sm.params.max_keypoint_drop,
        if_none_within_gate=sm.params.if_none_within_gate,
        speed=sm.params.speed,
        out_cvimodel=Path(sm.output.cvimodel),
        out_report=Path(sm.output.report),
        out_metrics=Path(sm.output.metrics),
    )


run_rule(main, sm.log[0])
