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
        onnx_path=Path(sm.input.onnx),
        out_onnx=Path(sm.output.onnx),
        out_json=Path(sm.output.outputs),
        check_image=first_val_image(Path(sm.input.dataset)),
        explicit=sm.params.explicit_outputs,
        state_dir=Path(sm.params.ultralytics_config),
    ),
    sm.log[0],
)
