"""Rule quantize: TPU-MLIR model_transform -> run_calibration -> model_deploy for MaixCAM."""

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the posepipe package)
from posepipe.dataset import val_images  # noqa: E402
from posepipe.errors import run_rule  # noqa: E402
from posepipe.quantize import Runner, quantize  # noqa: E402
from posepipe.tpu_mlir_env import conda_runner_location  # noqa: E402

sm = snakemake  # noqa: F821


def main():
    location = sm.params.location or conda_runner_location()
    work_dir = Path(sm.params.work_dir)
    try:
        quantize(
            Path(sm.input.onnx),
            Path(sm.input.outputs),
            val_images(Path(sm.input.dataset)),
            sm.params.settings,
            sm.wildcards.model,
            sm.params.imgsz,
            Runner(sm.params.runner, location),
            work_dir,
            Path(sm.output.cvimodel),
            Path(sm.output.report),
        )
    finally:  # the tools' own logs are kept, failed or not
        if (work_dir / "logs").is_dir():
            shutil.copytree(work_dir / "logs", sm.output.tool_logs, dirs_exist_ok=True)


run_rule(main, sm.log[0])
