"""Rule prune: the ONNX cut to the three tensors the MaixCAM runtime reads, checked numerically."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the posepipe package)
from posepipe.dataset import first_val_image  # noqa: E402
from posepipe.errors import run_rule  # noqa: E402
from posepipe.prune import prune  # noqa: E402

sm = snakemake  # noqa: F821
run_rule(
    lambda: prune(
        Path(sm.input.onnx),
        Path(sm.output.onnx),
        Path(sm.output.outputs),
        first_val_image(Path(sm.input.dataset)),
        sm.params.explicit_outputs,
        Path(sm.params.ultralytics_config),
    ),
    sm.log[0],
)
