"""Rule train: Ultralytics training of one model, resumable."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the posepipe package)
from posepipe.errors import run_rule  # noqa: E402
from posepipe.train import train  # noqa: E402

sm = snakemake  # noqa: F821
run_rule(
    lambda: train(
        Path(sm.input.dataset),
        sm.params.architecture,
        Path(sm.params.run_dir),
        {key: Path(sm.output[key]) for key in ("weights", "results", "args", "curves", "machine")},
        imgsz=sm.params.imgsz,
        epochs=sm.params.epochs,
        batch=sm.params.batch,
        seed=sm.params.seed,
        patience=sm.params.patience,
        device=sm.resources.device,
        threads=sm.threads,
        config_dir=Path(sm.params.ultralytics_config),
    ),
    sm.log[0],
)
