"""Rule validate_candidate: a candidate cvimodel through TPU-MLIR's simulator on the val images,
decoded as the device decodes, scored like the float models: what the device will score, before flashing."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the posepipe package)
from posepipe.errors import run_rule  # noqa: E402
from posepipe.tpu_mlir_env import Runner  # noqa: E402
from posepipe.validate import evaluate_cvimodel  # noqa: E402

sm = snakemake  # noqa: F821


def main():
    runner = Runner.for_rule(sm.params.runner, sm.params.location)
    result = evaluate_cvimodel(
        Path(sm.input.cvimodel),
        Path(sm.input.dataset),
        sm.params.imgsz,
        runner,
        Path(sm.params.work_dir),
        Path(sm.params.ultralytics_config),
    )
    Path(sm.output[0]).write_text(json.dumps(result, indent=1) + "\n")


run_rule(main, sm.log[0])
