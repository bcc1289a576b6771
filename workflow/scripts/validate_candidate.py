"""Rule validate_candidate: a candidate cvimodel's simulator outputs on the val images, decoded as the
device decodes, scored like the float models: what the device will score, before flashing."""

import json
from pathlib import Path

from posepipe.bootstrap import save_image_stats
from posepipe.device_metrics import evaluate_simulated
from posepipe.rule_entry import run_rule

sm = snakemake  # noqa: F821


def main():
    result, per_image = evaluate_simulated(
        outputs_dir=Path(sm.input.outputs),
        dataset_dir=Path(sm.input.dataset),
        imgsz=sm.params.imgsz,
        cvimodel_name=Path(sm.input.cvimodel).name,
        app=sm.params.thresholds,
        config_dir=Path(sm.params.ultralytics_config),
    )
    Path(sm.output.metrics).write_text(json.dumps(result, indent=1) + "\n")
    save_image_stats(Path(sm.output.stats), per_image)


run_rule(main, sm.log[0])
