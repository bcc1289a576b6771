"""Rule select_search: of every (point, recipe) of a search, the one that ships."""

from pathlib import Path

from posepipe.evaluation.search import select_search
from posepipe.infra.rule_entry import run_rule

sm = snakemake  # noqa: F821
points = sm.params.points
run_rule(
    lambda: select_search(
        search=sm.wildcards.search,
        points=points,
        reports=[Path(sm.input[f"report_{index}"]) for index in range(len(points))],
        candidates=[
            {
                recipe: (Path(sm.input[f"cvimodel_{index}_{recipe}"]), Path(sm.input[f"metrics_{index}_{recipe}"]))
                for recipe in sm.params.recipes
            }
            for index in range(len(points))
        ],
        settings={
            "target_fps": sm.params.target_fps,
            "if_no_point_meets": sm.params.if_no_point_meets,
            "measured_fps": sm.params.measured_fps,
        },
        speed=sm.params.speed,
        out_json=Path(sm.output.json),
        out_cvimodel=Path(sm.output.cvimodel),
    ),
    sm.log[0],
)
