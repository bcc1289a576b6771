"""Rule simulate_candidate: a candidate cvimodel through TPU-MLIR's host simulator on one shard of the val images."""

from pathlib import Path

from posepipe.infra.rule_entry import run_rule
from posepipe.tpu_mlir.env import Runner
from posepipe.tpu_mlir.quantize import simulate

sm = snakemake  # noqa: F821
run_rule(
    lambda: simulate(
        cvimodel=Path(sm.input.cvimodel),
        dataset_dir=Path(sm.input.dataset),
        imgsz=sm.params.imgsz,
        shard=sm.params.shard,
        runner=Runner.for_rule(sm.params.runner, sm.params.location),
        work_dir=Path(sm.params.work_dir),
        out_dir=Path(sm.output[0]),
    ),
    sm.log[0],
)
