"""Rule package: the .mud MaixPy loads, its cvimodel beside it, and a zip for the device."""

from pathlib import Path

from posepipe.infra.rule_entry import run_rule
from posepipe.packaging.package import package

sm = snakemake  # noqa: F821
run_rule(
    lambda: package(
        cvimodel=Path(sm.input.cvimodel),
        report_json=Path(sm.input.report),
        pruned_onnx=Path(sm.input.onnx),
        pruned_json=Path(sm.input.pruned),
        dataset_dir=Path(sm.input.dataset),
        metrics_json=Path(sm.input.metrics),
        provenance_json=Path(sm.input.provenance),
        labels_override=sm.params.labels,
        **{f"out_{key}": Path(sm.output[key]) for key in ("mud", "cvimodel", "labels", "zip", "metrics")},
    ),
    sm.log[0],
)
