"""Rule package_search: the .mud of what a search ships, with the chosen point's files."""

import json
from pathlib import Path

from posepipe.infra.rule_entry import run_rule
from posepipe.packaging.package import package

sm = snakemake  # noqa: F821


def main():
    chosen = json.loads(Path(sm.input.search).read_text())["chosen"]["point"]
    index = sm.params.points.index(chosen)
    return package(
        cvimodel=Path(sm.input.cvimodel),
        report_json=Path(sm.input[f"report_{index}"]),
        pruned_onnx=Path(sm.input[f"onnx_{index}"]),
        pruned_json=Path(sm.input[f"pruned_{index}"]),
        dataset_dir=Path(sm.input.dataset),
        metrics_json=Path(sm.input.search),
        provenance_json=Path(sm.input[f"provenance_{index}"]),
        labels_override=sm.params.labels,
        **{f"out_{key}": Path(sm.output[key]) for key in ("mud", "cvimodel", "labels", "zip", "metrics")},
    )


run_rule(main, sm.log[0])
