"""Rule metrics: every validation of a model side by side in metrics.json and metrics.csv."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the posepipe package)
from posepipe.errors import run_rule  # noqa: E402
from posepipe.validate import merge_metrics  # noqa: E402

sm = snakemake  # noqa: F821
run_rule(
    lambda: merge_metrics(
        model=sm.wildcards.model,
        sources={source: Path(sm.input[source]) for source in sm.params.sources},
        quantize_report=Path(sm.input.quantization),
        json_path=Path(sm.output.json),
        csv_path=Path(sm.output.csv),
    ),
    sm.log[0],
)
