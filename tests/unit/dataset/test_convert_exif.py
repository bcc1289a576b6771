"""Phone photos: JPEGs with an EXIF orientation, annotated either on the photo as shown (web
labelling tools) or on its stored pixels (tools that ignore EXIF). Geometric truth: each
keypoint is a coloured marker drawn into the photo, and after conversion every labelled keypoint
must land on its marker in the image as Ultralytics reads it (its own `imread`)."""

import json

import numpy as np
import pytest
from PIL import Image, ImageOps
from posepipe.dataset.convert import Split, convert
from posepipe.infra.errors import PosepipeError
from support.checks import (
    assert_keypoints_on_their_markers,
    assert_ultralytics_loads_what_was_converted,
    marked_pixels,
    marker_centres,
    write_json,
)

STORED_POINTS = [(15.5, 10.5), (60.5, 20.5), (30.5, 45.5)]  # pixel centres in the stored 80 x 60 pixels
STORED_BOX = [8, 4, 62, 50]


def photo(path, orientation: int, size=(80, 60)):
    """A JPEG whose stored pixels hold the markers, tagged with `orientation`."""
    pixels = marked_pixels(size, STORED_POINTS)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, quality=95, exif=exif)


def dataset(root, orientation: int, frame: str, size=(80, 60)) -> Split:
    """One photo annotated in `frame`: `raw` in the stored pixels, `displayed` on the photo as
    PIL shows it (ImageOps.exif_transpose: an implementation independent of posepipe's)."""
    photo(root / "images" / "a.jpg", orientation, size)
    if frame == "raw":
        (w, h), points, box = size, STORED_POINTS, STORED_BOX
    else:
        shown = ImageOps.exif_transpose(Image.open(root / "images" / "a.jpg"))
        (w, h), points = shown.size, marker_centres(np.asarray(shown))
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        box = [min(xs) - 5, min(ys) - 5, max(xs) - min(xs) + 10, max(ys) - min(ys) + 10]
    keypoints = [value for (x, y), v in zip(points, (2, 2, 1)) for value in (x, y, v)]
    coco = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": w, "height": h}],
        "annotations": [{"id": 5, "image_id": 1, "category_id": 1, "bbox": box, "keypoints": keypoints}],
        "categories": [{"id": 1, "name": "thing", "keypoints": ["tip", "left_eye", "right_eye"]}],
    }
    return Split(write_json(root / "coco.json", coco), root / "images")


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("frame", ["displayed", "raw"])
def test_labels_land_on_the_markers_whichever_frame_was_annotated(tmp_path, orientation, frame):
    split = dataset(tmp_path, orientation, frame)
    ambiguous = orientation in (2, 3, 4)  # the same size as shown and as stored
    setting = frame if ambiguous else None
    convert({"train": split, "val": split}, tmp_path / "out", annotations_frame=setting)
    assert_keypoints_on_their_markers(tmp_path / "out", "a.jpg")
    assert_ultralytics_loads_what_was_converted(tmp_path / "out")


@pytest.mark.parametrize(("orientation", "size"), [(3, (80, 60)), (6, (60, 60))], ids=["turned-180", "square-90"])
def test_a_frame_the_size_cannot_tell_is_refused_naming_the_setting(tmp_path, orientation, size):
    split = dataset(tmp_path, orientation, "raw", size)
    with pytest.raises(PosepipeError) as error:
        convert({"train": split, "val": split}, tmp_path / "out")
    message = str(error.value)
    assert "\n" not in message and f"{split.annotations}: image 'a.jpg': EXIF orientation {orientation}" in message
    assert "set the dataset's annotations_frame" in message and not (tmp_path / "out").exists()


def test_a_size_that_is_neither_frame_names_both(tmp_path):
    split = dataset(tmp_path, 6, "raw")
    coco = json.loads(split.annotations.read_text())
    coco["images"][0].update(width=70, height=50)
    write_json(split.annotations, coco)
    with pytest.raises(
        PosepipeError, match=r"the JSON says 70x50, the file is 80x60, 60x80 as shown \(EXIF orientation 6\)"
    ):
        convert({"train": split, "val": split}, tmp_path / "out")


def other_format(split: Split, suffix: str) -> Split:
    """The dataset's photo as another format, with the same EXIF orientation."""
    Image.open(split.images / "a.jpg").save(
        split.images / f"a.{suffix}", exif=Image.open(split.images / "a.jpg").getexif()
    )
    (split.images / "a.jpg").unlink()
    coco = json.loads(split.annotations.read_text())
    coco["images"][0]["file_name"] = f"a.{suffix}"
    write_json(split.annotations, coco)
    return split


@pytest.mark.parametrize("suffix", ["png", "webp"])
def test_other_formats_with_an_orientation_are_turned_as_ultralytics_reads_them(tmp_path, suffix):
    """cv2.imdecode applies these formats' EXIF orientation too."""
    split = other_format(dataset(tmp_path, 6, "raw"), suffix)
    convert({"train": split, "val": split}, tmp_path / "out")
    assert_keypoints_on_their_markers(tmp_path / "out", f"a.{suffix}")


def test_an_oriented_tiff_is_refused(tmp_path):
    """Pillow reports such a TIFF's size turned already, so neither frame can be told."""
    split = other_format(dataset(tmp_path, 6, "raw"), "tiff")
    with pytest.raises(PosepipeError, match="image 'a.tiff': .*a TIFF with EXIF orientation 6: save it upright"):
        convert({"train": split, "val": split}, tmp_path / "out")


def test_the_oriented_images_are_counted_in_the_log(tmp_path, caplog):
    split = dataset(tmp_path, 6, "raw")
    with caplog.at_level("INFO", logger="posepipe"):
        convert({"train": split, "val": split}, tmp_path / "out")
    assert "train: 1 images carry an EXIF orientation: 0 annotated as shown, 1 on their stored pixels" in caplog.text
