"""Rule convert: a dataset's COCO keypoints JSON + images -> a YOLO pose dataset folder."""

from pathlib import Path

from posepipe.dataset.convert import Split, convert
from posepipe.dataset.oks_sigmas import SigmaSettings
from posepipe.infra.rule_entry import run_rule

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
        annotations_frame=sm.params.annotations_frame,
        sigmas=SigmaSettings(
            given=sm.params.kpt_oks_sigmas,
            key=f"datasets.{sm.wildcards.dataset}.kpt_oks_sigmas",
            relabelled=Path(sm.input.relabelled) if "relabelled" in sm.input.keys() else None,
        ),
    ),
    sm.log[0],
)
