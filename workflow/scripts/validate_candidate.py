"""Rule validate_candidate: a candidate cvimodel's scored shards of val images summed up like the
float models' figures: what the device will score, before flashing."""

import json
from pathlib import Path

from posepipe.evaluation.bootstrap import save_image_stats
from posepipe.evaluation.device_metrics import evaluate_simulated
from posepipe.infra.rule_entry import run_rule

sm = snakemake  # noqa: F821


def main():
    result, per_image = evaluate_simulated(
        shard_scores=[Path(path) for path in sm.input.scores],
        dataset_dir=Path(sm.input.dataset),
        imgsz=sm.params.imgsz,
        cvimodel_name=Path(sm.input.cvimodel).name,
        app=sm.params.thresholds,
        config_dir=Path(sm.params.ultralytics_config),
    )
    Path(sm.output.metrics).write_text(json.dumps(result, indent=1) + "\n")
    save_image_stats(Path(sm.output.stats), per_image)


run_rule(main, sm.log[0])
