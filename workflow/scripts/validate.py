"""Rule validate: metrics of the trained weights or their ONNX on the val split."""

import json
from pathlib import Path

from posepipe.infra.rule_entry import run_rule
from posepipe.training.validate import evaluate

sm = snakemake  # noqa: F821


def main():
    result = evaluate(
        weights=Path(sm.input.weights),
        dataset_dir=Path(sm.input.dataset),
        imgsz=sm.params.imgsz,
        batch=sm.params.batch,
        device=sm.resources.device,
        work_dir=Path(sm.params.work_dir),
        config_dir=Path(sm.params.ultralytics_config),
    )
    Path(sm.output[0]).write_text(json.dumps(result, indent=1) + "\n")


run_rule(main, sm.log[0])
