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
        Path(sm.input.outputs),
        Path(sm.input.dataset),
        sm.params.imgsz,
        Path(sm.input.cvimodel).name,
        Path(sm.params.ultralytics_config),
    )
    Path(sm.output[0]).write_text(json.dumps(result, indent=1) + "\n")


run_rule(main, sm.log[0])
