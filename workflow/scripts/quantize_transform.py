"""Rule quantize_transform: TPU-MLIR model_transform, the float MLIR every recipe starts from."""

from pathlib import Path

from posepipe.dataset.data_yaml import first_val_image
from posepipe.infra.rule_entry import run_rule
from posepipe.tpu_mlir.env import Runner
from posepipe.tpu_mlir.quantize import transform

sm = snakemake  # noqa: F821
run_rule(
    lambda: transform(
        pruned_onnx=Path(sm.input.onnx),
        pruned_json=Path(sm.input.outputs),
        test_image=first_val_image(Path(sm.input.dataset)),
        settings_raw=sm.params.settings,
        model_name=sm.wildcards.model,
        imgsz=sm.params.imgsz,
        runner=Runner.for_rule(sm.params.runner, sm.params.location),
        out_dir=Path(sm.output[0]),
    ),
    sm.log[0],
)
