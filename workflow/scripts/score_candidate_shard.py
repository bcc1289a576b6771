"""Rule score_candidate_shard: one shard of a candidate's simulator outputs decoded as the device
decodes them and matched with the ground truth; rule validate_candidate sums the shards up."""

from pathlib import Path

from posepipe.evaluation.device_metrics import score_shard
from posepipe.infra.rule_entry import run_rule

sm = snakemake  # noqa: F821
run_rule(
    lambda: score_shard(
        outputs_dir=Path(sm.input.outputs),
        dataset_dir=Path(sm.input.dataset),
        imgsz=sm.params.imgsz,
        app=sm.params.thresholds,
        config_dir=Path(sm.params.ultralytics_config),
        out=Path(sm.output[0]),
    ),
    sm.log[0],
)
