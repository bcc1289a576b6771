"""Rule report_summary: the model's section of `snakemake --report` (results/{model}/report/summary.rst)."""

import json
from pathlib import Path

from posepipe.infra.rule_entry import run_rule
from posepipe.packaging.report import prediction_grid, summary_rst
from posepipe.training.ultralytics_env import prepare

sm = snakemake  # noqa: F821


def main():
    prepare(Path(sm.params.ultralytics_config))
    metrics = json.loads(Path(sm.input.metrics).read_text())
    shipped = metrics["cvimodel"]["thresholds"]
    text = summary_rst(
        sm.wildcards.model,
        metrics,
        json.loads(Path(sm.input.pruned).read_text()),
        json.loads(Path(sm.input.quantize_report).read_text()),
        Path(sm.input.curves).read_bytes(),
        prediction_grid(Path(sm.input.pruned_onnx), Path(sm.input.dataset), sm.params.grid_images, shipped),
        sm.params.measured_fps,
    )
    Path(sm.output[0]).write_text(text)


run_rule(main, sm.log[0])
