"""Rule metrics: every validation of a model side by side in metrics.json and metrics.csv."""

from pathlib import Path

from posepipe.infra.rule_entry import run_rule
from posepipe.training.validate import merge_metrics

sm = snakemake  # noqa: F821
run_rule(
    lambda: merge_metrics(
        model=sm.wildcards.model,
        sources={source: Path(sm.input[source]) for source in sm.params.sources},
        quantize_report=Path(sm.input.quantization),
        dataset_dir=Path(sm.input.dataset),
        json_path=Path(sm.output.json),
        csv_path=Path(sm.output.csv),
    ),
    sm.log[0],
)
