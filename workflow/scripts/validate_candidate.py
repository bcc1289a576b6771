"""Rule validate_candidate: a candidate cvimodel's simulator outputs on the val images, decoded as the
device decodes, scored like the float models: what the device will score, before flashing."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the posepipe package)
from posepipe.errors import run_rule  # noqa: E402
from posepipe.validate import evaluate_simulated  # noqa: E402

sm = snakemake  # noqa: F821


def main():
    result = evaluate_simulated(
        outputs_dir=Path(sm.input.outputs),
        dataset_dir=Path(sm.input.dataset),
        imgsz=sm.params.imgsz,
        cvimodel_name=Path(sm.input.cvimodel).name,
        config_dir=Path(sm.params.ultralytics_config),
    )
    Path(sm.output[0]).write_text(json.dumps(result, indent=1) + "\n")


run_rule(main, sm.log[0])
