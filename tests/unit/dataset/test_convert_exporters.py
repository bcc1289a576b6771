"""COCO keypoints exports as labelling tools write them, each built from its documented format
with the quirks that set it apart: the conversion takes each whole (loader-equal), and every
labelled keypoint lands on the marker drawn at it (geometric truth)."""

import copy

import pytest
from PIL import Image
from posepipe.dataset.convert import Split, convert
from support.checks import (
    assert_keypoints_on_their_markers,
    assert_ultralytics_loads_what_was_converted,
    marked_pixels,
    write_json,
)

KEYPOINTS = ["nose", "left_eye", "right_eye"]
SKELETON = [[1, 2], [1, 3]]
# two photos of 96 x 72, one person each: keypoint pixel centres, the third occluded (v=1)
PHOTOS = {
    "beach.jpg": [(30.5, 20.5), (20.5, 14.5), (40.5, 14.5)],
    "park.jpg": [(60.5, 40.5), (52.5, 30.5), (70.5, 33.5)],
}
SIZE = (96, 72)


def annotation(index: int, image_id: int, category_id: int, points) -> dict:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    box = [min(xs) - 6, min(ys) - 6, max(xs) - min(xs) + 12, max(ys) - min(ys) + 12]
    keypoints = [value for (x, y), v in zip(points, (2, 2, 1)) for value in (x, y, v)]
    return {"id": index, "image_id": image_id, "category_id": category_id, "bbox": box, "keypoints": keypoints}


def coco_official() -> dict:
    """COCO's own person_keypoints files, the form Ultralytics' convert_coco and its examples
    read: info and licenses, polygons, area, iscrowd, num_keypoints, 1-based ids and skeleton."""
    images, annotations = [], []
    for index, (name, points) in enumerate(PHOTOS.items(), start=1):
        images.append({"license": 1, "file_name": name, "coco_url": "", "height": SIZE[1], "width": SIZE[0],
                       "date_captured": "2013-11-14 11:18:45", "flickr_url": "", "id": index})  # fmt: skip
        record = annotation(index, index, 1, points)
        x, y, w, h = record["bbox"]
        record.update(segmentation=[[x, y, x + w, y, x + w, y + h]], area=w * h / 2, iscrowd=0, num_keypoints=3)
        annotations.append(record)
    return {
        "info": {"description": "COCO-style export", "version": "1.0", "year": 2017},
        "licenses": [{"url": "", "id": 1, "name": "CC BY"}],
        "images": images,
        "annotations": annotations,
        "categories": [
            {"supercategory": "person", "id": 1, "name": "person", "keypoints": KEYPOINTS, "skeleton": SKELETON}
        ],  # fmt: skip
    }


def cvat() -> dict:
    """CVAT's "COCO Keypoints 1.0": empty supercategory, per-annotation `attributes`, images
    with license 0 and empty URLs, segmentation [] and no num_keypoints."""
    coco = coco_official()
    coco["categories"][0]["supercategory"] = ""
    for image in coco["images"]:
        image.update(license=0, flickr_url="", coco_url="", date_captured=0)
    for record in coco["annotations"]:
        record.update(segmentation=[], attributes={"occluded": False, "track_id": 0})
        del record["num_keypoints"]
    return coco


def roboflow() -> dict:
    """Roboflow's COCO export: a super-category of id 0 (no keypoints, no annotations) before
    the real class, image ids from 0, `extra` and string dates."""
    coco = copy.deepcopy(coco_official())
    coco["categories"] = [
        {"id": 0, "name": "people", "supercategory": "none"},
        {"id": 1, "name": "person", "supercategory": "people", "keypoints": KEYPOINTS, "skeleton": SKELETON},
    ]
    for image in coco["images"]:
        image["id"] -= 1
        image["extra"] = {"name": image["file_name"]}
    for record in coco["annotations"]:
        record["image_id"] -= 1
        record["id"] -= 1
    return coco


def label_studio() -> dict:
    """Label Studio's COCO export: file names under an `images/` folder (so the JSON lives
    beside that folder), ids from 0, `ignore` and no num_keypoints, categories without skeleton."""
    coco = coco_official()
    for image in coco["images"]:
        image.update(id=image["id"] - 1, file_name=f"images/{image['file_name']}")
        for key in ("license", "coco_url", "flickr_url", "date_captured"):
            del image[key]
    for record in coco["annotations"]:
        record.update(image_id=record["image_id"] - 1, ignore=0)
        del record["num_keypoints"]
    coco["categories"] = [{"id": 1, "name": "person", "keypoints": KEYPOINTS}]
    del coco["licenses"]
    return coco


def coco_annotator() -> dict:
    """COCO Annotator: colours and metadata on categories and annotations, `isbbox`, images with
    their server path and dataset id."""
    coco = coco_official()
    coco["categories"][0].update(color="#e83e8c", metadata={})
    for image in coco["images"]:
        image.update(path=f"/datasets/people/{image['file_name']}", dataset_id=3, category_ids=[1],
                     annotated=True, num_annotations=1, metadata={}, deleted=False, milliseconds=0)  # fmt: skip
    for record in coco["annotations"]:
        record.update(isbbox=False, color="#a34c2b", metadata={}, creator="annotator")
    return coco


def minimal() -> dict:
    """Only what a keypoint dataset needs: the optional COCO fields (`area`, `iscrowd`,
    `num_keypoints`, `segmentation`, `info`, `licenses`, `supercategory`) all absent."""
    coco = coco_official()
    keep = {"images": ("id", "file_name", "width", "height"), "annotations": ("id", "image_id", "category_id",
            "bbox", "keypoints"), "categories": ("id", "name", "keypoints", "skeleton")}  # fmt: skip
    return {section: [{k: r[k] for k in fields} for r in coco[section]] for section, fields in keep.items()}


EXPORTERS = {
    "coco-ultralytics": coco_official,
    "cvat": cvat,
    "roboflow": roboflow,
    "label-studio": label_studio,
    "coco-annotator": coco_annotator,
    "minimal": minimal,
}


@pytest.mark.parametrize("tool", EXPORTERS)
def test_an_export_converts_whole_with_every_keypoint_on_its_marker(tmp_path, tool):
    coco = EXPORTERS[tool]()
    root = tmp_path / tool
    for image in coco["images"]:
        path = root / image["file_name"]
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(marked_pixels(SIZE, PHOTOS[path.name])).save(path, quality=95)
    split = Split(write_json(root / "annotations.json", coco), root)
    data = convert({"train": split, "val": split}, tmp_path / "out")
    assert data["names"] == {0: "person"} and data["kpt_shape"] == [3, 3] and data["flip_idx"] == [0, 2, 1]
    assert data["skeleton"] == ([] if tool == "label-studio" else [[0, 1], [0, 2]])
    assert_ultralytics_loads_what_was_converted(tmp_path / "out")
    for split_name in ("train", "val"):
        folder = tmp_path / "out" / "images" / split_name
        images = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.jpg"))
        assert len(images) == 2
        for image in images:
            assert assert_keypoints_on_their_markers(tmp_path / "out", image, split_name) == 3
