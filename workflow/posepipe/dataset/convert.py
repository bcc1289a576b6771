"""COCO keypoints JSON + images -> a YOLO pose dataset folder that Ultralytics loads whole.

The invariant: every image and instance the conversion reports is one that Ultralytics' own
loader (`YOLODataset`) loads and trains on. What it takes:
- labels where Ultralytics looks for them: it finds an image's label by replacing the LAST
  `/images/` of the image's path, and its glob skips names that start with a dot, so a path
  component `images` (or `images_`, ...) gets one `_` more and a hidden one (`.x`, `_.x`, ...)
  one `_` in front: a one-to-one renaming, logged;
- nothing its label check rejects (it drops the whole image for one coordinate above 1.01 or
  below 0): labelled keypoints outside the image (or with a negative visibility) become
  unlabelled `0 0 0`, boxes are clipped to the image, and a box wholly outside it is skipped,
  with one warning per split. These rows differ from Ultralytics' `convert_coco`, which writes
  them as they are and so loses the image at training time;
- images it can read as they are: regular files (symlinks resolved), a known suffix, at least
  10 px a side, complete JPEG and PNG files; no two images sharing one label file.

Otherwise the labels equal `convert_coco(use_keypoints=True, cls91to80=False)` numerically: the
same skip rules (crowds, boxes with w <= 0 or h <= 0, annotations with no labelled keypoint,
repeated rows), the same float operations, written with six decimals. Class ids differ by
design: categories sorted by their COCO id get classes 0, 1, 2, ... (Ultralytics writes
`category_id - 1`, which leaves gaps for non-contiguous ids).

Everything is read and checked before anything is written; the folder is built beside its
destination and moved into place at the end, so a failure leaves no output behind.

This module orchestrates; the steps live beside it: reading the JSON (coco_json), the record
checks (coco_records), the label arithmetic (label_rows), the dataset's layout (yolo_layout) and
the image files (images).
"""

import json
import logging
import multiprocessing
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from posepipe.dataset import flip_idx as flips
from posepipe.dataset import images as image_files
from posepipe.dataset import oks_sigmas as oks
from posepipe.dataset import split as export_split
from posepipe.dataset.coco_json import Categories, Coco
from posepipe.dataset.coco_records import AnnotationRecords, ImageRecords, check_annotations, check_images
from posepipe.dataset.label_rows import Rows, drop_repeated_rows, in_shown_frame, label_rows, warn_about_changes
from posepipe.dataset.label_text import format_rows
from posepipe.dataset.sources import OneExport, Split, read_splits
from posepipe.dataset.yolo_layout import data_yaml, write_labels
from posepipe.device.decoder import score_padding
from posepipe.infra.errors import PosepipeError
from posepipe.infra.staging import staged

log = logging.getLogger("posepipe.dataset.convert")


@dataclass
class SplitLabels:
    """A checked, converted split: what gets written."""

    name: str
    source: Split
    file_names: list[str]  # as in the JSON, normalised (no `./`, no `//`)
    dataset_names: list[str]  # where each image goes in the dataset (see _dataset_name)
    images_placed: Future  # the image files checked, linked into the staging folder; their orientations
    anns: AnnotationRecords
    images: ImageRecords
    rows: Rows
    label_bytes: list[bytes]  # one label file per image, empty for backgrounds
    instances: int

    def counts(self) -> dict:
        backgrounds = sum(1 for b in self.label_bytes if not b)
        return {"images": len(self.file_names), "backgrounds": backgrounds, "instances": self.instances}


def convert_split(
    name: str,
    split: Split,
    coco: Coco,
    categories: Categories,
    staging: Path,
    workers: Executor,
    checker: Executor,
    frame: str | None,
) -> SplitLabels:
    """Check and convert one split's records; nothing is written but image links into `staging`.

    The image files are checked, and then linked into `staging`, on `checker` while the labels
    are computed on `workers`; the returned labels hold that work's future. The labels assume
    annotations in the frame Ultralytics reads images in; images annotated on their stored
    pixels (an EXIF orientation the labelling tool ignored) are turned afterwards (_turned)."""
    path = split.annotations
    if not coco.images:  # Ultralytics would end training in a traceback ("images not found")
        raise PosepipeError(f"{path}: the {name} split has no image (training and every score read it)")
    images = check_images(path, coco.images)
    sizes = list(zip(images.widths.tolist(), images.heights.tolist()))
    images_placed = checker.submit(
        image_files.check_and_link,
        path,
        split.images,
        images.file_names,
        sizes,
        staging / "images" / name,
        images.dataset_names,
        frame,
    )
    anns = check_annotations(path, coco.annotations, images, categories)
    rows, label_bytes, instances = _label_files(anns, images, len(categories.keypoint_names), workers)
    return SplitLabels(
        name, split, images.file_names, images.dataset_names, images_placed, anns, images, rows, label_bytes, instances
    )


def _label_files(anns: AnnotationRecords, images: ImageRecords, k: int, workers: Executor):
    """The label rows (with what was changed to keep them loadable), the bytes of every
    image's label file, and the number of instances."""
    converted = label_rows(anns, images, k)
    rows, row_image = drop_repeated_rows(converted.rows, converted.image)
    by_image = np.argsort(row_image, kind="stable")  # annotation order within each image
    rows, row_image = rows[by_image], row_image[by_image]
    text, row_lengths = format_rows(rows, workers)
    ends = np.cumsum(row_lengths)
    first_row = np.searchsorted(row_image, np.arange(len(images.file_names)), side="left")
    last_row = np.searchsorted(row_image, np.arange(len(images.file_names)), side="right")
    starts = np.concatenate([[0], ends])
    label_bytes = [text[starts[a] : starts[b]] for a, b in zip(first_row.tolist(), last_row.tolist())]
    return converted, label_bytes, len(rows)


def _turned(labels: SplitLabels, oriented: dict[int, tuple[int, str]], workers: Executor) -> None:
    """The labels of a split's images annotated on their stored pixels, turned into the frame
    Ultralytics reads them in. Turning the labels, not the images: a JPEG rewritten upright
    would be encoded again (other pixels), and the dataset could no longer link the user's file."""
    stored = {index: orientation for index, (orientation, frame) in oriented.items() if frame == "stored"}
    log.info(
        "%s: %d images carry an EXIF orientation: %d annotated as shown, %d on their stored pixels%s",
        labels.name,
        len(oriented),
        len(oriented) - len(stored),
        len(stored),
        " (their labels turned to the image as Ultralytics reads it)" if stored else "",
    )
    if stored:
        anns, images = in_shown_frame(labels.anns, labels.images, stored)
        k = anns.keypoints.shape[1] // 3
        labels.rows, labels.label_bytes, labels.instances = _label_files(anns, images, k, workers)


def convert(
    source: dict[str, Split] | OneExport,
    out_dir: Path,
    flip_idx: list[int] | bool | None = None,
    flip_source: str = "config",
    threads: int = 1,
    annotations_frame: str | None = None,
    sigmas: oks.SigmaSettings | None = None,
) -> dict:
    """Check and convert every split (given, or made from one export), then write `out_dir`
    atomically. Returns the data YAML as a dict, with what each split holds under
    `posepipe.splits` (images, backgrounds, instances) and, for one export, how it was split
    under `posepipe.split` (which images went where: `split.json` beside it).
    `annotations_frame` (displayed, raw) says which frame EXIF-oriented images were annotated
    in where their size cannot tell (images.annotations_frame); `sigmas`, the OKS sigmas the
    config gives or the double labels to estimate them from (oks_sigmas)."""
    if not isinstance(source, OneExport) and "train" not in source:
        raise PosepipeError(f"{out_dir}: no 'train' split given")
    # a stale Ultralytics labels.cache goes with the folder this one replaces
    with staged(Path(out_dir)) as staging, ThreadPoolExecutor(max(1, threads)) as workers:
        converted, categories, split_record = _check_and_convert(source, staging, workers, annotations_frame)
        train = next(c for c in converted if c.name == "train")
        if train.instances == 0:
            raise PosepipeError(
                f"{train.source.annotations}: the training split has no usable annotation "
                "(none left after skipping crowds, empty boxes and annotations without labelled keypoints)"
            )
        _log_categories(categories, train.source.annotations)
        flip = _flip_idx(flip_idx, flip_source, categories, train.source.annotations)
        first_labelling = [(labels.anns, labels.file_names) for labels in converted]
        chosen = oks.dataset_sigmas(sigmas or oks.SigmaSettings(), categories, first_labelling)
        log.info("OKS sigmas: %s", chosen.detail)
        counts = {labels.name: labels.counts() for labels in converted}
        dataset_yaml = data_yaml(
            counts,
            categories,
            flip,
            chosen.values,
            chosen.record(categories.keypoint_names),
            export_split.split_summary(split_record) if split_record else None,
        )
        for labels in converted:
            write_labels(staging / "labels" / labels.name, labels.dataset_names, labels.label_bytes)
        if split_record:
            (staging / export_split.RECORD).write_text(json.dumps(split_record, indent=1, ensure_ascii=False) + "\n")
        with open(staging / "data.yaml", "w") as f:
            f.write("# YOLO pose dataset written by posepipe's convert rule\n")
            yaml.safe_dump(dataset_yaml, f, sort_keys=False, allow_unicode=True)
    for labels in converted:
        counts = labels.counts()
        renamed = sum(1 for a, b in zip(labels.file_names, labels.dataset_names) if a != b)
        log.info(
            "%s: %d images (%d backgrounds), %d instances%s",
            labels.name,
            counts["images"],
            counts["backgrounds"],
            counts["instances"],
            f"; {renamed} images renamed for Ultralytics' loader (images/ or hidden path components)"
            if renamed
            else "",
        )
    return dataset_yaml


def _check_and_convert(source: dict[str, Split] | OneExport, staging: Path, workers: Executor, frame: str | None):
    """Every split converted, every image file checked and linked into `staging`, and the
    record of the split where one export was split."""
    # Image files are checked and linked in a second process, beside the label work: that work
    # is Python-bound and would hold the GIL.
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as checker:
        checker.submit(int).result()  # fork now, while this process is small: later copy-on-write costs
        splits, categories, split_record = read_splits(source)
        converted = [
            convert_split(name, split, coco, categories, staging, workers, checker, frame)
            for name, (split, coco) in splits.items()
        ]
        for labels in converted:
            if oriented := labels.images_placed.result():
                _turned(labels, oriented, workers)
            warn_about_changes(labels.name, labels.rows)
    return converted, categories, split_record


def _flip_idx(configured: list[int] | bool | None, where: str, categories: Categories, train_json: Path):
    k = len(categories.keypoint_names)
    if configured is None:
        flip = flips.derive(categories.keypoint_names, str(train_json))
    elif configured is False:
        flip = flips.FlipIdx(None, "config", "the config asks for no flipping")
    else:
        flip = flips.check(where, configured, k)
    if flip.flip_idx is None:
        log.warning("flip_idx: %s (fliplr 0); give flip_idx in the config to flip", flip.detail)
    else:
        log.info("flip_idx %s: %s", flip.flip_idx, flip.detail)
    return flip


def _log_categories(categories: Categories, train_json: Path) -> None:
    """What the conversion decided about the categories, once (every split has the same)."""
    k = len(categories.keypoint_names)
    if categories.not_classes:
        log.warning(
            "%s: categories %s name no keypoints and have no annotation: not classes (a labelling tool's "
            "grouping), left out of the dataset and the .mud labels",
            train_json,
            ", ".join(categories.not_classes),
        )
    if categories.skeleton_dropped:
        log.warning(
            "%s: skeleton pairs %s join a keypoint the category lacks (K = %d): dropped, the app draws the rest",
            train_json,
            categories.skeleton_dropped,
            k,
        )
    if not categories.named_keypoints:
        log.info("no category names its keypoints: K = %d from the annotations, named kp0..kp%d", k, k - 1)
    if score_padding(len(categories.names)):
        log.info(
            "%s: %d classes, a multiple of 3: the pruned model will carry one constant-zero score channel "
            "more, so that the MaixCAM runtime tells scores from keypoints",
            train_json,
            len(categories.names),
        )
