"""Rule quantize_candidate: one recipe's cvimodel (calibration, mixed precision, model_deploy)."""

import shutil
from pathlib import Path

from posepipe.dataset.data_yaml import split_images
from posepipe.infra.rule_entry import run_rule
from posepipe.tpu_mlir.commands import Recipe
from posepipe.tpu_mlir.env import Runner
from posepipe.tpu_mlir.quantize import build_candidate, calibration_set

sm = snakemake  # noqa: F821


def main():
    work_dir = Path(sm.params.work_dir)
    try:
        build_candidate(
            transform_dir=Path(sm.input.transform),
            recipe=Recipe.from_config(sm.params.recipe),
            calibration_table=Path(sm.input.calibration) if "calibration" in sm.input.keys() else None,
            calibration_images=calibration_set(
                split_images(Path(sm.input.dataset), "train"), sm.params.calibration_images
            ),
            deploy_tolerance=sm.params.deploy_tolerance,
            runner=Runner.for_rule(sm.params.runner, sm.params.location),
            work_dir=work_dir,
            out_cvimodel=Path(sm.output.cvimodel),
            out_report=Path(sm.output.report),
        )
    finally:  # the tools' own logs are kept, failed or not
        if (work_dir / "logs").is_dir():
            shutil.copytree(work_dir / "logs", sm.output.tool_logs, dirs_exist_ok=True)


run_rule(main, sm.log[0])
