"""Rule train: Ultralytics training of one model, resumable."""

from pathlib import Path

from posepipe.infra.rule_entry import run_rule
from posepipe.training.train import train

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
