"""The conversion stage: parity with Ultralytics, layout, class mapping, flip_idx, bad input."""

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from posepipe.dataset.convert import Split, convert
from posepipe.dataset.demo import COCO_KEYPOINTS
from posepipe.dataset.label_text import read_label_file
from posepipe.dataset.oks_sigmas import COCO_SIGMAS, MIN_PAIRS, SigmaSettings
from posepipe.infra.errors import PosepipeError
from support.checks import assert_ultralytics_loads_what_was_converted, write_json


def ultralytics_labels(json_path: Path, work: Path) -> Path:
    """Labels written by Ultralytics' own convert_coco for this JSON; returns their folder."""
    from ultralytics.data.converter import convert_coco

    source = work / "ultralytics-json"
    source.mkdir(parents=True)
    shutil.copy(json_path, source / json_path.name)
    convert_coco(str(source), str(work / "ultralytics"), use_keypoints=True, cls91to80=False)
    return work / "ultralytics" / "labels" / json_path.stem


def assert_same_labels(ours: Path, theirs: Path, class_of_theirs) -> int:
    """Every label file Ultralytics wrote has an equal one of ours (1e-6); returns how many."""
    files = sorted(theirs.rglob("*.txt"))
    assert files, "Ultralytics wrote no label file: nothing was compared"
    for path in files:
        mine, reference = read_label_file(ours / path.relative_to(theirs)), read_label_file(path)
        assert mine.shape == reference.shape, path.name
        if reference.size:
            reference[:, 0] = [class_of_theirs(c) for c in reference[:, 0]]
            np.testing.assert_allclose(mine, reference, rtol=0, atol=1e-6, err_msg=path.name)
    return len(files)


def test_labels_equal_ultralytics_on_real_coco_photos(coco_real, tmp_path):
    json_path = coco_real / "test_coco.json"
    convert({"train": Split(json_path, coco_real), "val": Split(json_path, coco_real)}, tmp_path / "out")
    theirs = ultralytics_labels(json_path, tmp_path)
    assert assert_same_labels(tmp_path / "out" / "labels" / "train", theirs, lambda c: c) == 4
    assert assert_ultralytics_loads_what_was_converted(tmp_path / "out")["train"]["instances"] == 12
    # the two annotations with num_keypoints=0 are skipped, as Ultralytics skips them
    total = sum(len(read_label_file(p)) for p in (tmp_path / "out" / "labels" / "train").glob("*.txt"))
    assert total == 12


def test_labels_equal_ultralytics_on_demo_data(demo_data, tmp_path):
    splits = {name: Split(**paths) for name, paths in demo_data.items()}
    convert(splits, tmp_path / "out")
    theirs = ultralytics_labels(demo_data["train"]["annotations"], tmp_path)
    assert assert_same_labels(tmp_path / "out" / "labels" / "train", theirs, lambda c: c) > 0
    assert_ultralytics_loads_what_was_converted(tmp_path / "out")


def test_dataset_layout_and_yaml(demo_data, tmp_path):
    out = tmp_path / "dataset"
    convert({name: Split(**paths) for name, paths in demo_data.items()}, out)
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert "path" not in data  # the same bytes in any folder: Ultralytics takes the YAML's folder
    from ultralytics.data.utils import check_det_dataset

    assert Path(check_det_dataset(str(out / "data.yaml"))["path"]) == out.resolve()
    assert data["train"] == "images/train" and data["val"] == "images/val"
    assert data["kpt_shape"] == [17, 3]
    assert data["flip_idx"] == [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
    assert data["names"] == {0: "person"}
    assert data["kpt_names"][0] == COCO_KEYPOINTS
    for split, paths in demo_data.items():
        assert not (out / "images" / split).is_symlink()
        images = sorted(p.name for p in (out / "images" / split).iterdir())
        assert images == sorted(p.name for p in paths["images"].iterdir())
        for name in images:  # hard links to the originals, labels beside them
            assert (out / "images" / split / name).stat().st_ino == (paths["images"] / name).stat().st_ino
            assert (out / "labels" / split / name).with_suffix(".txt").is_file()


def coco_with_categories(tmp_path: Path, category_ids: list[int]) -> Split:
    """A tiny two-image dataset with one annotation per category (K = 2: left_eye, right_eye)."""
    from PIL import Image

    images_dir = tmp_path / "images"
    images_dir.mkdir(parents=True)
    for name in ("a.jpg", "b.png"):
        Image.new("RGB", (100, 50)).save(images_dir / name)
    names = ["left_eye", "right_eye"]
    categories = [{"id": i, "name": f"thing {i}", "keypoints": names} for i in category_ids]
    annotations = [
        {"id": 10 + n, "image_id": 1, "category_id": i, "bbox": [10, 5, 20 + n, 10], "keypoints": [15, 8, 2, 20, 8, 1]}
        for n, i in enumerate(category_ids)
    ]
    coco = {
        "images": [
            {"id": 1, "file_name": "a.jpg", "width": 100, "height": 50},
            {"id": 2, "file_name": "b.png", "width": 100, "height": 50},
        ],
        "annotations": annotations,
        "categories": categories,
    }
    return Split(write_json(tmp_path / "coco.json", coco), images_dir)


def test_non_contiguous_category_ids_map_to_sorted_contiguous_classes(tmp_path):
    split = coco_with_categories(tmp_path, [90, 3, 17, 44])
    data = convert({"train": split, "val": split}, tmp_path / "out")
    assert data["names"] == {0: "thing 3", 1: "thing 17", 2: "thing 44", 3: "thing 90"}
    assert data["category_ids"] == {0: 3, 1: 17, 2: 44, 3: 90}
    rows = read_label_file(tmp_path / "out" / "labels" / "train" / "a.txt")
    assert rows[:, 0].tolist() == [3, 0, 1, 2]  # annotation order kept, ids 90, 3, 17, 44
    assert rows.shape[1] == 5 + 3 * 2
    assert (tmp_path / "out" / "labels" / "train" / "b.txt").read_text() == ""  # a background image


def test_class_count_multiple_of_three_is_announced(tmp_path, caplog):
    split = coco_with_categories(tmp_path, [1, 2, 3])
    with caplog.at_level(logging.INFO):
        convert({"train": split, "val": split}, tmp_path / "out")
    assert "3 classes, a multiple of 3: the pruned model will carry one constant-zero score channel" in caplog.text


def test_derived_flip_idx_is_logged(demo_data, tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        convert({name: Split(**paths) for name, paths in demo_data.items()}, tmp_path / "out")
    assert "flip_idx [0, 2, 1, 4, 3" in caplog.text and "derived from keypoint names" in caplog.text


def test_reconversion_leaves_no_stale_labels_cache(demo_data, tmp_path):
    out = tmp_path / "out"
    splits = {name: Split(**paths) for name, paths in demo_data.items()}
    convert(splits, out)
    (out / "labels" / "train.cache").write_text("stale")  # what Ultralytics' training leaves
    convert(splits, out)
    assert not (out / "labels" / "train.cache").exists()


# ---- bad input: one line naming the file, the record and the fault; nothing written ----


@pytest.fixture
def small(demo_data, tmp_path):
    """The demo train split as a dict to break, and a function converting it."""
    coco = json.loads(demo_data["train"]["annotations"].read_text())
    images = demo_data["train"]["images"]
    out = tmp_path / "out"

    def run(data=None, raw: str | None = None, flip_idx=None):
        path = tmp_path / "bad.json"
        path.write_text(raw if raw is not None else json.dumps(data))
        good_val = Split(demo_data["val"]["annotations"], demo_data["val"]["images"])
        with pytest.raises(PosepipeError) as error:
            convert({"train": Split(path, images), "val": good_val}, out, flip_idx=flip_idx, flip_source="config")
        message = str(error.value)
        assert "\n" not in message
        assert not out.exists() and not list(tmp_path.glob(".out*")), "a failed conversion left output behind"
        return message

    return coco, run


def test_invalid_json(small):
    _, run = small
    message = run(raw='{"images": [')
    assert "bad.json" in message and "invalid JSON" in message


def test_unreadable_json(demo_data, tmp_path):
    with pytest.raises(PosepipeError, match=r"missing\.json: cannot read the annotation file"):
        convert({"train": Split(tmp_path / "missing.json", tmp_path)}, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("section", ["images", "annotations", "categories"])
def test_missing_section(small, section):
    coco, run = small
    del coco[section]
    assert run(coco).endswith(f"bad.json: missing '{section}' list")


def test_keypoints_length_not_3k(small):
    coco, run = small
    bad = coco["annotations"][2]
    bad["keypoints"] = bad["keypoints"][:-3]
    assert f"annotation id {bad['id']}: keypoints has 48 values, expected 3*K = 51" in run(coco)


def test_keypoints_not_numbers(small):
    coco, run = small
    bad = coco["annotations"][1]
    bad["keypoints"][4] = "12"
    message = run(coco)
    assert f"annotation id {bad['id']}: keypoints" in message and "expected `float`, got `str`" in message


def test_annotation_with_unknown_image(small):
    coco, run = small
    bad = coco["annotations"][3]
    bad["image_id"] = 99999
    assert f"annotation id {bad['id']}: unknown image_id 99999" in run(coco)


def test_annotation_with_unknown_category(small):
    coco, run = small
    bad = coco["annotations"][0]
    bad["category_id"] = 7
    assert f"annotation id {bad['id']}: unknown category_id 7" in run(coco)


def test_duplicate_image_ids(small):
    coco, run = small
    coco["images"][2]["id"] = coco["images"][1]["id"]
    assert f"image id {coco['images'][1]['id']}: duplicate image id" in run(coco)


def test_wrong_field_type_names_the_record(small):
    coco, run = small
    coco["images"][1]["width"] = "320"
    message = run(coco)
    assert f"image id {coco['images'][1]['id']}: width: expected `int`, got `str`" in message


def test_image_file_missing(small, demo_data, tmp_path):
    coco, run = small
    coco["images"][2]["file_name"] = "nowhere.jpg"
    assert "bad.json: image 'nowhere.jpg': file missing in" in run(coco)


def test_image_file_unreadable(small, demo_data):
    coco, run = small
    broken = demo_data["train"]["images"] / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 this is not a JPEG")
    coco["images"][0]["file_name"] = "broken.jpg"
    try:
        assert "image 'broken.jpg': unreadable" in run(coco)
    finally:
        broken.unlink()


def test_image_size_differs_from_json(small):
    coco, run = small
    image = coco["images"][1]
    image["width"] = 640
    assert f"image '{image['file_name']}': the JSON says 640x240, the file is 320x240" in run(coco)


@pytest.mark.parametrize("file_name", ["../escape.jpg", "/etc/passwd", "sub/../../x.jpg"])
def test_file_name_escaping_the_image_folder(small, file_name):
    coco, run = small
    coco["images"][0]["file_name"] = file_name
    assert f"image id {coco['images'][0]['id']}: file_name '{file_name}' escapes the image folder" in run(coco)


def test_empty_training_set(small):
    coco, run = small
    coco["annotations"] = []
    assert "bad.json: the training split has no usable annotation" in run(coco)


@pytest.mark.parametrize(
    ("flip_idx", "fault"),
    [
        ([0, 1, 2], "is not a permutation of 0..16"),
        ([0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 16], "is not a permutation"),
        ([1, 2, 0, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16], "is not its own inverse: 0 -> 1 but 1 -> 2"),
    ],
)
def test_bad_flip_idx(small, flip_idx, fault):
    coco, run = small
    message = run(coco, flip_idx=flip_idx)
    assert message.startswith("config: flip_idx") and fault in message


def relabelled_copy(annotations: Path, out: Path, sigmas: list[float], seed: int = 0) -> Path:
    """The split's COCO file labelled again: each labelled keypoint i moved by a Gaussian with
    E[d^2] = sigma_i^2 x 0.53 x box area (per coordinate sigma_i s / sqrt 2)."""
    coco = json.loads(annotations.read_text())
    rng = np.random.default_rng(seed)
    for ann in coco["annotations"]:
        s = (0.53 * ann["bbox"][2] * ann["bbox"][3]) ** 0.5
        points = np.array(ann["keypoints"], dtype=float).reshape(-1, 3)
        labelled = points[:, 2] > 0
        points[labelled, :2] += rng.normal(size=(labelled.sum(), 2)) * np.array(sigmas)[labelled, None] * s / 2**0.5
        ann["keypoints"] = points.ravel().tolist()
    return write_json(out, coco)


def test_sigmas_estimated_from_a_relabelled_split_go_into_data_yaml(tmp_path):
    """The demo's 17 keypoints labelled twice with known spreads: the measured sigmas replace the
    assumed ones where enough pairs back them, and data.yaml says so."""
    from posepipe.dataset import demo

    sizes = {"train": 40, "val": 2}
    files = {split: tmp_path / f"{split}.json" for split in sizes}
    folders = {split: tmp_path / split for split in sizes}
    demo.generate(5, sizes, 160, 128, files, folders, panels=False)
    truth = [0.03 + 0.005 * i for i in range(17)]
    relabelled = relabelled_copy(files["train"], tmp_path / "again.json", truth)
    splits = {split: Split(files[split], folders[split]) for split in sizes}
    data = convert(splits, tmp_path / "out", sigmas=SigmaSettings(relabelled=relabelled))
    record = data["posepipe"]["kpt_oks_sigmas"]
    assert record["source"] == "estimated" and record["detail"].startswith(f"estimated from {relabelled}")
    written = yaml.safe_load((tmp_path / "out" / "data.yaml").read_text())
    assert written["kpt_oks_sigmas"] == data["kpt_oks_sigmas"]
    assert sum(entry["source"] == "estimated" for entry in record["per_keypoint"]) >= 12
    for entry, sigma, true in zip(record["per_keypoint"], data["kpt_oks_sigmas"], truth):
        if entry["source"] == "estimated":  # a keypoint the demo labels on enough figures
            assert entry["pairs"] >= MIN_PAIRS and abs(sigma - true) < 0.25 * true
        else:
            assert sigma == COCO_SIGMAS[COCO_KEYPOINTS.index(entry["name"])]


def test_sigmas_of_the_wrong_count_stop_the_conversion_naming_the_key(demo_data, tmp_path):
    splits = {name: Split(**paths) for name, paths in demo_data.items()}
    with pytest.raises(PosepipeError) as raised:
        convert(splits, tmp_path / "out", sigmas=SigmaSettings(given=[0.05] * 4, key="datasets.demo.kpt_oks_sigmas"))
    assert str(raised.value).startswith("datasets.demo.kpt_oks_sigmas: 4 values, but the dataset has 17 keypoints (")
    assert not (tmp_path / "out").exists()


def test_an_empty_split_is_refused_in_one_line_naming_it(demo_data, tmp_path):
    coco = json.loads(demo_data["val"]["annotations"].read_text())
    empty = write_json(tmp_path / "val.json", {**coco, "images": [], "annotations": []})
    splits = {"train": Split(**demo_data["train"]), "val": Split(empty, demo_data["val"]["images"])}
    with pytest.raises(PosepipeError) as raised:
        convert(splits, tmp_path / "out")
    assert str(raised.value) == f"{empty}: the val split has no image (training and every score read it)"
    assert not (tmp_path / "out").exists()
