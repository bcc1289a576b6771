"""Rule validate_device: mAP of the pruned ONNX decoded exactly as the MaixCAM runtime decodes it."""

import json
from pathlib import Path

from posepipe.evaluation.bootstrap import save_image_stats
from posepipe.evaluation.device_metrics import evaluate_device_decoder
from posepipe.infra.rule_entry import run_rule

sm = snakemake  # noqa: F821


def main():
    result, per_image = evaluate_device_decoder(
        pruned_onnx=Path(sm.input.onnx),
        dataset_dir=Path(sm.input.dataset),
        app=sm.params.thresholds,
        config_dir=Path(sm.params.ultralytics_config),
    )
    Path(sm.output.metrics).write_text(json.dumps(result, indent=1) + "\n")
    save_image_stats(Path(sm.output.stats), per_image)


run_rule(main, sm.log[0])
