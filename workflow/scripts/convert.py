"""Rule convert: a dataset's COCO keypoints JSON + images (two splits, or one export to split)
-> a YOLO pose dataset folder."""

from pathlib import Path

from posepipe.dataset.convert import OneExport, Split, convert
from posepipe.dataset.oks_sigmas import SigmaSettings
from posepipe.dataset.split import SplitSettings
from posepipe.infra.rule_entry import run_rule

sm = snakemake  # noqa: F821
inputs = sm.input.keys()
if sm.params.split is None:
    source = {
        split: Split(Path(sm.input[f"{split}_json"]), Path(sm.input[f"{split}_images"])) for split in ("train", "val")
    }
else:
    source = OneExport(Path(sm.input.annotations), Path(sm.input.images), SplitSettings(**sm.params.split))
run_rule(
    lambda: convert(
        source,
        Path(sm.output[0]),
        flip_idx=sm.params.flip_idx,
        flip_source=f"config: datasets: {sm.wildcards.dataset}: flip_idx",
        threads=sm.threads,
        annotations_frame=sm.params.annotations_frame,
        sigmas=SigmaSettings(
            given=sm.params.kpt_oks_sigmas,
            key=f"datasets.{sm.wildcards.dataset}.kpt_oks_sigmas",
            relabelled=Path(sm.input.relabelled) if "relabelled" in inputs else None,
        ),
    ),
    sm.log[0],
)
