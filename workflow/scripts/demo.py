"""Rule demo_dataset: the seeded synthetic COCO-keypoints dataset."""

from pathlib import Path

from posepipe.dataset import demo
from posepipe.infra.rule_entry import run_rule

sm = snakemake  # noqa: F821
run_rule(
    lambda: demo.generate(
        seed=sm.params.seed,
        split_sizes=sm.params.split_sizes,
        width=sm.params.width,
        height=sm.params.height,
        annotation_files={"train": Path(sm.output.train_json), "val": Path(sm.output.val_json)},
        image_dirs={"train": Path(sm.output.train_images), "val": Path(sm.output.val_images)},
        panels=sm.params.panels,
    ),
    sm.log[0],
)
