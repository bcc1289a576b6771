"""Rule prune: the ONNX cut to the three tensors the MaixCAM runtime reads, checked numerically."""

from pathlib import Path

from posepipe.dataset.data_yaml import first_val_image
from posepipe.infra.rule_entry import run_rule
from posepipe.training.prune import prune

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
