"""Rule demo_dataset: the seeded synthetic COCO-keypoints dataset."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the posepipe package)
from posepipe import demo  # noqa: E402
from posepipe.errors import run_rule  # noqa: E402

sm = snakemake  # noqa: F821
run_rule(
    lambda: demo.generate(
        seed=sm.params.seed,
        split_sizes=sm.params.split_sizes,
        width=sm.params.width,
        height=sm.params.height,
        annotation_files={"train": Path(sm.output.train_json), "val": Path(sm.output.val_json)},
        image_dirs={"train": Path(sm.output.train_images), "val": Path(sm.output.val_images)},
    ),
    sm.log[0],
)
