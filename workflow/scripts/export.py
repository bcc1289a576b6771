"""Rules export_onnx and export_other: the trained weights in a deployable format."""

from pathlib import Path

from posepipe.infra.rule_entry import run_rule
from posepipe.training.export import export_onnx, export_other

sm = snakemake  # noqa: F821
common = dict(work_dir=Path(sm.params.work_dir), config_dir=Path(sm.params.ultralytics_config))
if sm.rule == "export_onnx":
    work = lambda: export_onnx(  # noqa: E731
        weights=Path(sm.input.weights),
        destination=Path(sm.output[0]),
        imgsz=sm.params.imgsz,
        opset=sm.params.opset,
        **common,
    )
else:
    work = lambda: export_other(  # noqa: E731
        weights=Path(sm.input.weights),
        export_format=sm.wildcards.format,
        destination=Path(sm.output[0]),
        imgsz=sm.params.imgsz,
        **common,
    )
run_rule(work, sm.log[0])
