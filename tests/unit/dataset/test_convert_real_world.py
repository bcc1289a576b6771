"""Dataset shapes real users bring, and hostile files: every instance the converter reports is
one Ultralytics' loader really loads, and every fault is one line with nothing left behind."""

import json
import logging
import os
import subprocess
import sys

import pytest
import yaml
from PIL import Image
from posepipe.dataset import images as image_files
from posepipe.dataset.convert import Split, convert
from posepipe.dataset.flip_idx import derive
from posepipe.dataset.label_text import read_label_file
from posepipe.infra.errors import PosepipeError
from support.checks import assert_ultralytics_loads_what_was_converted, write_json
from support.paths import REPO

NAMES = ["nose", "left_eye", "right_eye"]


def make_dataset(root, file_names, annotations=None, keypoint_names=NAMES, size=(64, 48), images=None):
    """Images of `size` at `file_names` below root/images and a COCO JSON listing them; by
    default one annotation per image, a box and three labelled keypoints well inside."""
    folder = root / "images"
    for name in file_names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", size, (90, 120, 150)).save(folder / name, format="PNG" if name.endswith("png") else "JPEG")
    records = images or [
        {"id": i + 1, "file_name": name, "width": size[0], "height": size[1]} for i, name in enumerate(file_names)
    ]
    if annotations is None:
        annotations = [
            {"id": 100 + i, "image_id": i + 1, "category_id": 1, "bbox": [10, 8, 30, 20],
             "keypoints": [20, 12, 2, 15, 10, 2, 25, 10, 1]}
            for i in range(len(file_names))
        ]  # fmt: skip
    coco = {
        "images": records,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "thing", "keypoints": keypoint_names}],
    }
    return Split(write_json(root / "coco.json", coco), folder)


def convert_both(split, out, **kwargs) -> dict:
    return convert({"train": split, "val": split}, out, **kwargs)


def refused(split, out, **kwargs) -> str:
    with pytest.raises(PosepipeError) as error:
        convert_both(split, out, **kwargs)
    message = str(error.value)
    assert "\n" not in message and str(split.annotations) in message
    assert not out.exists() and not list(out.parent.glob(f".{out.name}*")), "a failed conversion left output behind"
    return message


# ---- 1. labels where Ultralytics looks for them ----


def test_file_names_with_an_images_folder_and_hidden_parts_are_loaded(tmp_path, caplog):
    names = ["images/val/003418_mpii_test/000000.jpg", "a/images_/b.jpg", ".hidden/c.jpg", "d/_.e.jpg", "f.jpg"]
    split = make_dataset(tmp_path, names)
    with caplog.at_level(logging.INFO):
        convert_both(split, tmp_path / "out")
    counts = assert_ultralytics_loads_what_was_converted(tmp_path / "out")
    assert counts["train"] == {"images": 5, "backgrounds": 0, "instances": 5}
    written = sorted(str(p.relative_to(tmp_path / "out" / "images" / "train")) for p in
                     (tmp_path / "out" / "images" / "train").rglob("*.jpg"))  # fmt: skip
    assert written == sorted(
        ["images_/val/003418_mpii_test/000000.jpg", "a/images__/b.jpg", "_.hidden/c.jpg", "d/__.e.jpg", "f.jpg"]
    )
    assert "4 images renamed for Ultralytics' loader" in caplog.text


# ---- 2. nothing Ultralytics' label check rejects ----


def test_values_outside_the_image_are_made_loadable_and_reported(tmp_path, caplog):
    inside = {"bbox": [10, 8, 30, 20], "keypoints": [20, 12, 2, 15, 10, 2, 25, 10, 1]}
    annotations = [
        {"id": 1, "image_id": 1, "category_id": 1, **inside, "keypoints": [67, 12, 2, 15, 10, 2, 25, 10, 1]},
        {"id": 2, "image_id": 2, "category_id": 1, **inside, "bbox": [50, -4, 30, 20]},
        {"id": 3, "image_id": 3, "category_id": 1, **inside, "bbox": [70, 8, 30, 20]},
        {"id": 4, "image_id": 3, "category_id": 1, **inside, "keypoints": [20, 12, -1, 15, 10, 2, 25, 10, 1]},
    ]
    split = make_dataset(tmp_path, ["a.jpg", "b.jpg", "c.jpg"], annotations)
    with caplog.at_level(logging.WARNING):
        convert_both(split, tmp_path / "out")
    labels = tmp_path / "out" / "labels" / "train"
    a = read_label_file(labels / "a.txt")
    assert a[0, 5:8].tolist() == [0, 0, 0]  # x = 67 > 64: unlabelled, the others kept
    assert a[0, 8:11].tolist() == pytest.approx([15 / 64, 10 / 48, 2], abs=1e-6)
    b = read_label_file(labels / "b.txt")
    assert b[0, 1:5].tolist() == pytest.approx(
        [57 / 64, 8 / 48, 14 / 64, 16 / 48], abs=1e-6
    )  # clipped to (50, 0, 64, 16)
    c = read_label_file(labels / "c.txt")
    assert len(c) == 1 and c[0, 5:8].tolist() == [0, 0, 0]  # box 3 wholly outside: skipped
    assert assert_ultralytics_loads_what_was_converted(tmp_path / "out")["train"]["instances"] == 3
    warning = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning == [
        "train: 2 annotations with labelled keypoints outside the image or of negative visibility "
        "(made unlabelled): ids 1, 4; "
        "1 annotations with boxes reaching past the image (clipped to it): ids 2; "
        "1 annotations with boxes wholly outside the image (skipped): ids 3",
        warning[1],
    ] and warning[1].startswith("val: ")


# ---- 3. flip_idx from the names real datasets use ----


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["nose", "left_eye", "right_eye"], [0, 2, 1]),
        (["L_Eye", "R_Eye", "Nose"], [1, 0, 2]),
        (["eyeL", "tail", "eyeR"], [2, 1, 0]),
        (["forelegL1", "forelegR1", "forelegL2", "forelegR2"], [1, 0, 3, 2]),
        (["l_ankle", "r_ankle", "neck"], [1, 0, 2]),
        (["LeftHand", "RightHand"], [1, 0]),
        (["wing-right", "wing-left"], [1, 0]),
        (["RHip", "LHip", "Pelvis"], [1, 0, 2]),
        (["EYE_LEFT", "EYE_RIGHT"], [1, 0]),
    ],
)
def test_flip_idx_from_side_markers(names, expected):
    result = derive(names, "x.json")
    assert result.flip_idx == expected and result.source == "derived"


@pytest.mark.parametrize("names", [[str(i) for i in range(1, 295)], ["tip", "base"], ["leftover", "rightmost"]])
def test_no_side_markers_no_flip_idx_and_no_flipping(names):
    result = derive(names, "x.json")
    assert result.flip_idx is None and result.source == "none"


def test_side_markers_without_partners_stop_the_conversion(tmp_path):
    split = make_dataset(tmp_path, ["a.jpg"], keypoint_names=["left_eye", "nose", "L_wing"])
    message = refused(split, tmp_path / "out")
    assert "keypoint names 'left_eye', 'L_wing' mark a side but have no partner" in message
    assert "give flip_idx for this dataset in the config" in message


def test_flip_idx_source_is_recorded(tmp_path, caplog):
    split = make_dataset(tmp_path, ["a.jpg"], keypoint_names=["1", "2", "3"])
    with caplog.at_level(logging.WARNING):
        data = convert_both(split, tmp_path / "none")
    written = yaml.safe_load((tmp_path / "none" / "data.yaml").read_text())
    assert (
        "flip_idx" not in written
        and written["posepipe"]["flip_idx_source"] == "none" == data["posepipe"]["flip_idx_source"]
    )
    assert "no keypoint name marks a side" in caplog.text and "fliplr 0" in caplog.text
    given = convert_both(split, tmp_path / "config", flip_idx=[0, 2, 1])
    assert given["flip_idx"] == [0, 2, 1] and given["posepipe"]["flip_idx_source"] == "config"
    off = convert_both(make_dataset(tmp_path / "b", ["a.jpg"]), tmp_path / "off", flip_idx=False)
    assert "flip_idx" not in off and off["posepipe"]["flip_idx_source"] == "config"


# ---- 4. categories without keypoint names ----


def test_keypoint_count_from_the_annotations_when_no_names(tmp_path, caplog):
    split = make_dataset(tmp_path, ["a.jpg", "b.jpg"], keypoint_names=[])
    with caplog.at_level(logging.INFO):
        data = convert_both(split, tmp_path / "out")
    assert data["kpt_shape"] == [3, 3] and data["kpt_names"][0] == ["kp0", "kp1", "kp2"]
    assert "flip_idx" not in data  # kp0.. carry no side
    assert "K = 3 from the annotations" in caplog.text
    assert_ultralytics_loads_what_was_converted(tmp_path / "out")


def test_unequal_keypoint_counts_without_names_are_one_error(tmp_path):
    annotations = [
        {"id": 7, "image_id": 1, "category_id": 1, "bbox": [10, 8, 30, 20], "keypoints": [20, 12, 2, 15, 10, 2]},
        {"id": 8, "image_id": 2, "category_id": 1, "bbox": [10, 8, 30, 20], "keypoints": [20, 12, 2]},
    ]
    split = make_dataset(tmp_path, ["a.jpg", "b.jpg"], annotations, keypoint_names=[])
    assert "annotation id 8: keypoints has 3 values, expected 3*K = 6" in refused(split, tmp_path / "out")


# ---- 5. data lost or mangled: now refused, resolved or cut ----


def test_two_images_with_one_stem_are_refused(tmp_path):
    split = make_dataset(tmp_path, ["sub/im1.jpg", "sub/im1.png"])
    message = refused(split, tmp_path / "out")
    assert "image id 2: 'sub/im1.png' and image id 1 'sub/im1.jpg' would share the label file 'sub/im1.txt'" in message


def test_symlinked_images_are_resolved_to_their_target(tmp_path):
    split = make_dataset(tmp_path, ["real/a.jpg", "b.jpg"])
    os.remove(split.images / "b.jpg")
    os.symlink("real/a.jpg", split.images / "b.jpg")  # relative: dangling if copied as a link
    convert_both(split, tmp_path / "out")
    linked = tmp_path / "out" / "images" / "train" / "b.jpg"
    assert not linked.is_symlink() and linked.stat().st_ino == (split.images / "real" / "a.jpg").stat().st_ino
    assert_ultralytics_loads_what_was_converted(tmp_path / "out")


def test_dangling_symlink_is_refused(tmp_path):
    split = make_dataset(tmp_path, ["a.jpg"])
    os.remove(split.images / "a.jpg")
    os.symlink("gone.jpg", split.images / "a.jpg")
    assert "image 'a.jpg': unreadable (a symlink to 'gone.jpg', which does not exist)" in refused(
        split, tmp_path / "out"
    )


def test_absurd_coordinate_is_refused(tmp_path):
    annotations = [{"id": 5, "image_id": 1, "category_id": 1, "bbox": [10, 8, 30, 20],
                    "keypoints": [1e300, 12, 2, 15, 10, 2, 25, 10, 1]}]  # fmt: skip
    split = make_dataset(tmp_path, ["a.jpg"], annotations)
    assert "annotation id 5: keypoints holds 1e+300, not a pixel coordinate" in refused(split, tmp_path / "out")


def test_truncated_jpeg_is_refused(tmp_path):
    split = make_dataset(tmp_path, ["a.jpg"])
    data = (split.images / "a.jpg").read_bytes()
    (split.images / "a.jpg").write_bytes(data[: len(data) // 2])  # the header survives
    assert "image 'a.jpg': unreadable (a JPEG cut short (no end-of-image marker))" in refused(split, tmp_path / "out")


def test_truncated_png_is_refused(tmp_path):
    split = make_dataset(tmp_path, ["a.png"])
    data = (split.images / "a.png").read_bytes()
    (split.images / "a.png").write_bytes(data[:-20])
    assert "image 'a.png': unreadable (a PNG cut short" in refused(split, tmp_path / "out")


def test_bytes_after_the_jpeg_end_are_cut_in_the_dataset_copy(tmp_path):
    """Ultralytics would re-encode such a file inside the dataset at training time."""
    split = make_dataset(tmp_path, ["a.jpg"])
    original = (split.images / "a.jpg").read_bytes()
    (split.images / "a.jpg").write_bytes(original + b"\0" * 100)
    convert_both(split, tmp_path / "out")
    assert (tmp_path / "out" / "images" / "train" / "a.jpg").read_bytes() == original
    assert (split.images / "a.jpg").read_bytes() == original + b"\0" * 100  # the user's file untouched


def test_images_ultralytics_would_not_load_are_refused(tmp_path):
    split = make_dataset(tmp_path, ["a.jpg"], size=(9, 40))
    assert "image id 1: 9x40 px; Ultralytics drops images under 10 px a side" in refused(split, tmp_path / "out")
    split = make_dataset(tmp_path / "gif", ["a.jpg"])
    coco = json.loads(split.annotations.read_text())
    coco["images"][0]["file_name"] = "a.gif"
    write_json(split.annotations, coco)
    assert "image id 1: file_name 'a.gif': Ultralytics loads only" in refused(split, tmp_path / "out")


def test_images_over_pil_s_pixel_limit_are_refused_as_ultralytics_drops_them(tmp_path, monkeypatch):
    """PIL refuses more than twice Image.MAX_IMAGE_PIXELS (a decompression bomb), so Ultralytics'
    image check drops such an image; between once and twice the limit it only warns. The limit
    is lowered here so that small images stand in for 180-megapixel ones: the rule is the same."""
    from ultralytics.data.utils import verify_image_label

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    small, big = make_dataset(tmp_path / "small", ["a.jpg"], size=(40, 40)), make_dataset(tmp_path / "big", ["a.jpg"])
    args = (str(big.images / "a.jpg"), str(tmp_path / "none.txt"), "", True, 1, 3, 3, False)
    assert verify_image_label(args)[0] is None, "Ultralytics' own check drops the big image"
    assert "image id 1: 64x48 px; Ultralytics' image check (PIL) refuses images over 2,000 pixels" in refused(
        big, tmp_path / "big" / "out"
    )
    convert_both(small, tmp_path / "small" / "out")  # 1,600 px: over the limit, within twice it
    assert_ultralytics_loads_what_was_converted(tmp_path / "small" / "out")


def test_an_image_whose_content_is_not_its_suffix_s_format_is_refused_as_ultralytics_drops_it(tmp_path):
    """Ultralytics' check_image takes the format from the content (PIL), not the suffix."""
    from ultralytics.data.utils import verify_image_label

    split = make_dataset(tmp_path, ["a.png"])
    Image.new("RGB", (64, 48)).save(split.images / "a.png", format="GIF")
    args = (str(split.images / "a.png"), str(tmp_path / "none.txt"), "", True, 1, 3, 3, False)
    assert verify_image_label(args)[0] is None, "Ultralytics' own check drops it"
    assert "image 'a.png': unreadable (GIF is not an image format Ultralytics trains on)" in refused(
        split, tmp_path / "out"
    )


def test_suffixes_are_the_ones_ultralytics_loads():
    from ultralytics.data.utils import IMG_FORMATS

    assert image_files.IMG_FORMATS == IMG_FORMATS


# ---- 6. one line instead of a traceback or a hang ----


def test_deeply_nested_json(tmp_path):
    split = make_dataset(tmp_path, ["a.jpg"])
    coco = split.annotations.read_text()
    split.annotations.write_text(coco[:-1] + ', "info": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert "JSON nested too deeply" in refused(split, tmp_path / "out")


def test_one_file_listed_under_two_names(tmp_path):
    split = make_dataset(tmp_path, ["im1.jpg"], images=[
        {"id": 1, "file_name": "im1.jpg", "width": 64, "height": 48},
        {"id": 2, "file_name": "./im1.jpg", "width": 64, "height": 48},
    ])  # fmt: skip
    assert "image id 2: file_name './im1.jpg' is the file of image id 1 ('im1.jpg')" in refused(split, tmp_path / "out")


def test_id_beyond_int64(tmp_path):
    split = make_dataset(tmp_path, ["a.jpg"])
    split.annotations.write_text(split.annotations.read_text().replace('"id": 100', '"id": 99999999999999999999'))
    message = refused(split, tmp_path / "out")
    assert "annotation id 99999999999999999999: id: expected `int` <= 9223372036854775807" in message


def test_fifo_in_the_image_folder_is_refused_without_opening_it(tmp_path):
    split = make_dataset(tmp_path, ["a.jpg"])
    os.remove(split.images / "a.jpg")
    os.mkfifo(split.images / "a.jpg")
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); from pathlib import Path; "
        "from posepipe.dataset.convert import Split, convert; s = Split(Path(sys.argv[2]), Path(sys.argv[3])); "
        "convert({'train': s, 'val': s}, Path(sys.argv[4]))"
    )
    args = [str(REPO / "workflow"), str(split.annotations), str(split.images), str(tmp_path / "out")]
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "image 'a.jpg': unreadable (not a regular file but a FIFO)" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "keypoints", [[[20, 12, 2], [15, 10, 2], [25, 10, 1]], [[20, 12], [15, 10], [25, 10]]], ids=["xyv", "xy"]
)
def test_keypoints_given_as_points_are_flattened(tmp_path, keypoints):
    """RHD and UBody3D style: one [x, y, v] (or [x, y], then labelled and visible) per keypoint."""
    annotations = [{"id": 9, "image_id": 1, "category_id": 1, "bbox": [10, 8, 30, 20], "keypoints": keypoints}]
    convert_both(make_dataset(tmp_path, ["a.jpg"], annotations), tmp_path / "out")
    (row,) = read_label_file(tmp_path / "out" / "labels" / "train" / "a.txt")
    v = [2, 2, 1] if len(keypoints[0]) == 3 else [2, 2, 2]
    expected = [value for (x, y), v in zip([p[:2] for p in keypoints], v) for value in (x / 64, y / 48, v)]
    assert row[5:] == pytest.approx(expected, abs=1e-6)  # six decimals
    assert_ultralytics_loads_what_was_converted(tmp_path / "out")


@pytest.mark.parametrize(
    ("keypoints", "fault"),
    [
        ([[[20, 12, 2]], [[15, 10, 2]], [[25, 10, 1]]], "expected `float`, got `array` (value 0)"),  # too deep
        ([[20, 12, 2], [15, 10], [25, 10, 1]], "expected `float`, got `array` (value 0)"),  # ragged
    ],
)
def test_deeper_or_ragged_keypoint_lists_are_refused(tmp_path, keypoints, fault):
    annotations = [{"id": 9, "image_id": 1, "category_id": 1, "bbox": [10, 8, 30, 20], "keypoints": keypoints}]
    message = refused(make_dataset(tmp_path, ["a.jpg"], annotations), tmp_path / "out")
    assert f"annotation id 9: keypoints: {fault}, expected a flat list" in message and "- at" not in message


def test_a_missing_bbox_is_the_extent_of_the_labelled_keypoints(tmp_path, caplog):
    """MPII-TRB and 300VW style; an annotation without a labelled keypoint is skipped as before."""
    annotations = [
        {"id": 7, "image_id": 1, "category_id": 1, "keypoints": [20, 12, 2, 15, 30, 1, 80, 10, 2]},  # 80: outside
        {"id": 8, "image_id": 1, "category_id": 1, "keypoints": [0, 0, 0, 0, 0, 0, 0, 0, 0]},
    ]
    with caplog.at_level(logging.WARNING, logger="posepipe"):
        counts = convert_both(make_dataset(tmp_path, ["a.jpg"], annotations), tmp_path / "out")
    assert counts["posepipe"]["splits"]["train"]["instances"] == 1
    (row,) = read_label_file(tmp_path / "out" / "labels" / "train" / "a.txt")
    assert row[1:5] == pytest.approx([17.5 / 64, 21 / 48, 5 / 64, 18 / 48], abs=1e-6)  # x 15..20, y 12..30
    assert "; 1 annotations without a bbox (the extent of their labelled keypoints taken): ids 7\n" in caplog.text
    assert_ultralytics_loads_what_was_converted(tmp_path / "out")


def test_an_empty_grouping_category_is_not_a_class(tmp_path, caplog):
    """Roboflow's export: a super-category (id 0, no keypoints, no annotations) before the real one."""
    split = make_dataset(tmp_path, ["a.jpg"])
    coco = json.loads(split.annotations.read_text())
    coco["categories"].insert(0, {"id": 0, "name": "people", "supercategory": "none"})
    for annotation in coco["annotations"]:  # optional fields absent, and a tool's extras present
        annotation.update(attributes={"occluded": False}, segmentation=[])
    write_json(split.annotations, coco)
    with caplog.at_level(logging.WARNING, logger="posepipe"):
        data = convert_both(split, tmp_path / "out")
    assert data["names"] == {0: "thing"} and data["category_ids"] == {0: 1}
    assert caplog.text.count("categories id 0 'people' name no keypoints and have no annotation") == 1
    (row,) = read_label_file(tmp_path / "out" / "labels" / "train" / "a.txt")
    assert row[0] == 0
    assert_ultralytics_loads_what_was_converted(tmp_path / "out")


def test_a_keypoint_less_category_with_annotations_is_still_refused(tmp_path):
    split = make_dataset(tmp_path, ["a.jpg"])
    coco = json.loads(split.annotations.read_text())
    coco["categories"].append({"id": 2, "name": "ball"})
    coco["annotations"].append({**coco["annotations"][0], "id": 999, "category_id": 2})
    write_json(split.annotations, coco)
    assert "category id 2: 0 keypoint names, but category id 1 has 3" in refused(split, tmp_path / "out")


# ---- the skeleton the app draws ----


def with_skeleton(split: Split, skeleton) -> Split:
    coco = json.loads(split.annotations.read_text())
    coco["categories"][0]["skeleton"] = skeleton
    write_json(split.annotations, coco)
    return split


@pytest.mark.parametrize(
    ("skeleton", "expected"), [([[1, 2], [2, 3]], [[0, 1], [1, 2]]), ([[0, 1]], [[0, 1]]), (None, [])]
)
def test_the_skeleton_is_kept_0_based(tmp_path, skeleton, expected):
    split = with_skeleton(make_dataset(tmp_path, ["a.jpg"]), skeleton)
    assert convert_both(split, tmp_path / "out")["skeleton"] == expected  # COCO's is 1-based; 0-based kept


def test_a_skeleton_pair_joining_a_missing_keypoint_is_dropped_with_a_warning(tmp_path, caplog):
    """A CrowdPose file: the skeleton only draws lines in the app, so the rest is kept."""
    split = with_skeleton(make_dataset(tmp_path, ["a.jpg"]), [[1, 2], [3, 4]])
    with caplog.at_level(logging.WARNING, logger="posepipe"):
        assert convert_both(split, tmp_path / "out")["skeleton"] == [[0, 1]]
    assert caplog.text.count("skeleton pairs [[3, 4]] join a keypoint the category lacks (K = 3)") == 1
