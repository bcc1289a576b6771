"""Config faults the tests plant, each with the one line that must name it: those that set one
key to one value are support/config-faults.yaml's rows, the others are built here."""

import copy
from pathlib import Path

import pytest
import yaml

from support.runs import set_key, tiny_config

HERE = Path(__file__).resolve().parent


def with_change(change) -> dict:
    config = copy.deepcopy(tiny_config())
    change(config)
    return config


def external_dataset(annotations: str, images: str):
    def change(config):
        config["datasets"]["mine"] = {
            "train": {"annotations": annotations, "images": images},
            "val": {"annotations": annotations, "images": images},
        }
        config["models"]["tiny"]["dataset"] = "mine"

    return change


def write_dataset_files(workdir):
    (workdir / "data" / "images").mkdir(parents=True)
    (workdir / "data" / "ann.json").write_text("{}")


# a key set to a value: support/config-faults.yaml; other changes here
FAULTS = [
    *(
        pytest.param(set_key(key.split("."), value), expected, id=fault)
        for fault, (key, value, expected) in yaml.safe_load((HERE / "config-faults.yaml").read_text()).items()
    ),
    pytest.param(
        external_dataset("data/missing.json", "data/images"),
        "datasets.mine.train.annotations: file 'data/missing.json' does not exist",
        id="missing-annotations",
    ),
    pytest.param(
        external_dataset("data/ann.json", "data/no-such-folder"),
        "datasets.mine.train.images: folder 'data/no-such-folder' does not exist",
        id="missing-images-folder",
    ),
    pytest.param(
        lambda config: config["models"].update({"x;$(touch pwned)": config["models"].pop("tiny")}),
        "models: 'x;$(touch pwned)' does not match",
        id="hostile-model-name",
    ),
]
