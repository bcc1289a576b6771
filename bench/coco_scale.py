"""A COCO-scale person-keypoints dataset for the conversion benchmark, made on the spot.

Shaped like COCO person_keypoints_train2017: about 57,000 images of 20 common sizes, about
150,000 person annotations with segmentation polygons, 17 keypoints each (about a third of
them unlabelled, some annotations with none, some crowds), about 80 MB of JSON. Each image
file is a small real JPEG of the declared size, hard-linked so that the folder costs little.
"""

import json
from pathlib import Path

import numpy as np
from PIL import Image
from posepipe.dataset.demo import COCO_KEYPOINTS, COCO_SKELETON

SIZES = [(640, 480), (640, 427), (480, 640), (640, 426), (500, 375), (640, 425), (427, 640), (640, 428),
         (375, 500), (640, 424), (640, 512), (612, 612), (640, 640), (640, 360), (640, 429), (333, 500),
         (500, 333), (640, 423), (424, 640), (640, 478)]  # fmt: skip


def make(root: Path, images: int = 57_000, annotations: int = 150_000, seed: int = 0) -> tuple[Path, Path]:
    """Write `root/annotations/person_keypoints_train.json` and `root/train/`; return both paths."""
    rng = np.random.default_rng(seed)
    image_dir = root / "train"
    image_dir.mkdir(parents=True, exist_ok=True)
    templates = root / "templates"
    templates.mkdir(exist_ok=True)
    for w, h in SIZES:
        Image.new("RGB", (w, h), (90, 120, 150)).save(templates / f"{w}x{h}.jpg", quality=50)
    size_of = rng.integers(0, len(SIZES), images)
    image_records = []
    for index in range(images):
        w, h = SIZES[size_of[index]]
        name = f"{index + 1:012d}.jpg"
        target = image_dir / name
        if not target.exists():
            target.hardlink_to(templates / f"{w}x{h}.jpg")
        image_records.append(
            {"license": 1, "file_name": name, "coco_url": "", "height": h, "width": w,
             "date_captured": "2013-11-14 17:02:52", "flickr_url": "", "id": index + 1}
        )  # fmt: skip
    # about 45% of COCO images hold no person: annotations go to the first 55% of the ids, shuffled
    owners = rng.integers(0, int(images * 0.55), annotations)
    anns = []
    for index in range(annotations):
        image = image_records[owners[index]]
        w, h = image["width"], image["height"]
        bw, bh = rng.uniform(8, w * 0.6), rng.uniform(16, h * 0.9)
        x, y = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
        crowd = int(rng.random() < 0.01)
        labelled = rng.random(17) < (0.0 if rng.random() < 0.12 else 0.65)
        keypoints = []
        for visible in labelled:
            if visible:
                keypoints += [int(rng.uniform(x, x + bw)), int(rng.uniform(y, y + bh)), int(rng.integers(1, 3))]
            else:
                keypoints += [0, 0, 0]
        polygon = np.round(rng.uniform([x, y], [x + bw, y + bh], size=(10, 2)), 2).ravel().tolist()
        anns.append(
            {"segmentation": [polygon], "num_keypoints": int(labelled.sum()), "area": round(bw * bh * 0.6, 4),
             "iscrowd": crowd, "keypoints": keypoints, "image_id": image["id"],
             "bbox": [round(x, 2), round(y, 2), round(bw, 2), round(bh, 2)], "category_id": 1, "id": index + 1}
        )  # fmt: skip
    category = {"supercategory": "person", "id": 1, "name": "person",
                "keypoints": COCO_KEYPOINTS, "skeleton": COCO_SKELETON}  # fmt: skip
    json_path = root / "annotations" / "person_keypoints_train.json"
    json_path.parent.mkdir(exist_ok=True)
    with open(json_path, "w") as f:
        json.dump({"images": image_records, "annotations": anns, "categories": [category]}, f)
    return json_path, image_dir
