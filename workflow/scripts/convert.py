"""Rule convert: a dataset's COCO keypoints JSON + images -> a YOLO pose dataset folder."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the posepipe package)
from posepipe.convert import Split, convert  # noqa: E402
from posepipe.errors import run_rule  # noqa: E402

sm = snakemake  # noqa: F821
run_rule(
    lambda: convert(
        {
            split: Split(Path(sm.input[f"{split}_json"]), Path(sm.input[f"{split}_images"]))
            for split in ("train", "val")
        },
        Path(sm.output[0]),
        flip_idx=sm.params.flip_idx,
        flip_source=f"config: datasets: {sm.wildcards.dataset}: flip_idx",
        threads=sm.threads,
    ),
    sm.log[0],
)
