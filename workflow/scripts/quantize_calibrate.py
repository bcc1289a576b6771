"""Rule quantize_calibrate: the INT8 threshold table of one calibration method."""

from pathlib import Path

from posepipe.dataset.data_yaml import split_images
from posepipe.infra.rule_entry import run_rule
from posepipe.tpu_mlir.env import Runner
from posepipe.tpu_mlir.quantize import calibrate, calibration_set

sm = snakemake  # noqa: F821
run_rule(
    lambda: calibrate(
        transform_dir=Path(sm.input.transform),
        method=sm.wildcards.method,
        calibration_images=calibration_set(split_images(Path(sm.input.dataset), "train"), sm.params.calibration_images),
        runner=Runner.for_rule(sm.params.runner, sm.params.location),
        work_dir=Path(sm.params.work_dir),
        out_table=Path(sm.output[0]),
    ),
    sm.log[0],
)
