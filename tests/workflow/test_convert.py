"""Real Snakemake runs of the demo dataset and conversion stages."""

import json
import shutil
from pathlib import Path

import yaml
from posepipe.dataset.label_text import read_label_file
from support.checks import assert_same_bytes, assert_ultralytics_loads_what_was_converted
from support.runs import run_snakemake, tiny_config


def test_demo_dataset_and_conversion(tmp_path):
    run_snakemake(tmp_path, tiny_config(), "results/datasets/demo")
    dataset = tmp_path / "results" / "datasets" / "demo"
    data = yaml.safe_load((dataset / "data.yaml").read_text())
    assert "path" not in data and data["kpt_shape"] == [17, 3]
    coco = json.loads((tmp_path / "results" / "demo" / "annotations" / "train.json").read_text())
    assert len(coco["images"]) == 8
    labels = sorted((dataset / "labels" / "train").glob("*.txt"))
    assert len(labels) == 8
    assert sum(len(read_label_file(p)) for p in labels) == len(coco["annotations"])
    loaded = assert_ultralytics_loads_what_was_converted(dataset)
    assert loaded["train"] == {"images": 8, "backgrounds": 0, "instances": len(coco["annotations"])}
    assert "flip_idx [0, 2, 1, 4, 3" in (tmp_path / "results" / "logs" / "convert" / "demo.log").read_text()
    again = run_snakemake(tmp_path, tiny_config(), "results/datasets/demo", extra=["--dry-run"])
    assert "Nothing to be done" in again.stdout + again.stderr


def test_demo_data_is_byte_identical_across_runs(tmp_path):
    for name in ("a", "b"):
        run_snakemake(tmp_path / name, tiny_config(), "results/demo/annotations/train.json")
    for path in sorted((tmp_path / "a" / "results" / "demo").rglob("*.*")):
        twin = tmp_path / "b" / path.relative_to(tmp_path / "a")
        assert_same_bytes(path, twin)


def test_conversion_of_real_coco_photos(tmp_path, coco_real):
    config = tiny_config()
    split = {"annotations": str(coco_real / "test_coco.json"), "images": str(coco_real)}
    config["datasets"] = {"real": {"train": split, "val": split}}
    config["models"]["tiny"]["dataset"] = "real"
    run_snakemake(tmp_path, config, "results/datasets/real")
    labels = tmp_path / "results" / "datasets" / "real" / "labels" / "val"
    assert sum(len(read_label_file(p)) for p in labels.glob("*.txt")) == 12
    assert assert_ultralytics_loads_what_was_converted(labels.parent.parent)["val"]["instances"] == 12


def test_bad_input_fails_the_rule_with_one_line(tmp_path, coco_real):
    coco = json.loads((coco_real / "test_coco.json").read_text())
    coco["annotations"][4]["image_id"] = 12345
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(coco))
    config = tiny_config()
    config["datasets"] = {"real": {s: {"annotations": str(bad), "images": str(coco_real)} for s in ("train", "val")}}
    config["models"]["tiny"]["dataset"] = "real"
    result = run_snakemake(tmp_path, config, "results/datasets/real", check=False)
    assert result.returncode != 0
    expected = f"posepipe: error: {bad}: annotation id {coco['annotations'][4]['id']}: unknown image_id 12345"
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "results" / "datasets" / "real").exists()


def test_a_relabelled_file_reaches_the_conversion_and_a_wrong_sigma_count_fails_in_one_line(tmp_path):
    """The second labelling is a rule input: its sigmas land in data.yaml; sigmas of the wrong
    count stop the rule with one line naming the key, and leave no dataset."""
    config = tiny_config()
    run_snakemake(tmp_path, config, "results/demo/annotations/train.json")
    coco = json.loads((tmp_path / "results" / "demo" / "annotations" / "train.json").read_text())
    for ann in coco["annotations"]:  # every labelled keypoint 2 px right in the second labelling
        ann["keypoints"] = [
            v + 2 if i % 3 == 0 and ann["keypoints"][i + 2] > 0 else v for i, v in enumerate(ann["keypoints"])
        ]
    (tmp_path / "again.json").write_text(json.dumps(coco))
    config["datasets"]["demo"]["relabelled"] = "again.json"
    run_snakemake(tmp_path, config, "results/datasets/demo")
    data = yaml.safe_load((tmp_path / "results" / "datasets" / "demo" / "data.yaml").read_text())
    assert data["posepipe"]["kpt_oks_sigmas"]["detail"].startswith("estimated from again.json")
    config["datasets"]["demo"]["kpt_oks_sigmas"] = [0.05, 0.05]
    result = run_snakemake(tmp_path, config, "results/datasets/demo", check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert (
        "posepipe: error: datasets.demo.kpt_oks_sigmas: 2 values, but the dataset has 17 keypoints (nose,"
        in result.stderr
    )
    assert not (tmp_path / "results" / "datasets" / "demo").exists()


def roboflow_folder(coco_real: Path, folder: Path) -> dict[str, int]:
    """Roboflow's COCO export of the real photos: train/ (three) and valid/ (one), each with its
    `_annotations.coco.json` beside the images, a super-category of id 0, image ids from 0 within
    each split, and a test/ folder posepipe leaves alone. Returns each split's instance count."""
    coco = json.loads((coco_real / "test_coco.json").read_text())
    people = {**coco["categories"][0], "supercategory": "people"}
    categories = [{"id": 0, "name": "people", "supercategory": "none"}, people]
    counts = {}
    for sub, images in (("train", coco["images"][:3]), ("valid", coco["images"][3:]), ("test", coco["images"][3:])):
        (folder / sub).mkdir(parents=True)
        ids = {image["id"]: index for index, image in enumerate(images)}
        anns = [{**a, "image_id": ids[a["image_id"]]} for a in coco["annotations"] if a["image_id"] in ids]
        for image in images:
            shutil.copy(coco_real / image["file_name"], folder / sub / image["file_name"])
        split = {"images": [{**image, "id": ids[image["id"]]} for image in images], "annotations": anns,
                 "categories": categories}  # fmt: skip
        (folder / sub / "_annotations.coco.json").write_text(json.dumps(split))
        counts[sub] = sum(1 for a in anns if a["num_keypoints"] > 0)
    return counts


def test_a_roboflow_export_folder_converts_as_exported(tmp_path, coco_real):
    counts = roboflow_folder(coco_real, tmp_path / "exports" / "people")
    config = tiny_config()
    config["datasets"] = {"people": {"folder": "exports/people"}}
    config["models"]["tiny"]["dataset"] = "people"
    run_snakemake(tmp_path, config, "results/datasets/people")
    dataset = tmp_path / "results" / "datasets" / "people"
    loaded = assert_ultralytics_loads_what_was_converted(dataset)
    assert loaded["train"]["images"] == 3 and loaded["val"]["images"] == 1
    assert {"train": loaded["train"]["instances"], "valid": loaded["val"]["instances"]} == {
        sub: counts[sub] for sub in ("train", "valid")
    }
    assert yaml.safe_load((dataset / "data.yaml").read_text())["names"] == {0: "person"}
