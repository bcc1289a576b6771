"""The demo data (posepipe.dataset.demo): boxes that hold their keypoints, and visibility by the panels."""

import json

import numpy as np
import pytest
from posepipe.dataset import demo


def generated(tmp_path, panels: bool) -> list[dict]:
    files = {"train": tmp_path / "train.json"}
    demo.generate(0, {"train": 40}, 320, 240, files, {"train": tmp_path / "train"}, panels=panels)
    return json.loads(files["train"].read_text())["annotations"]


@pytest.mark.parametrize("panels", [True, False])
def test_every_box_holds_its_labelled_keypoints(tmp_path, panels):
    annotations = generated(tmp_path, panels)
    assert len(annotations) > 40
    for annotation in annotations:
        keypoints = np.array(annotation["keypoints"], dtype=float).reshape(-1, 3)
        labelled = keypoints[keypoints[:, 2] > 0, :2]
        x, y, w, h = annotation["bbox"]
        assert len(labelled) == annotation["num_keypoints"] > 0
        assert (labelled >= [x, y]).all() and (labelled <= [x + w, y + h]).all(), annotation
        assert w * h < 0.95 * 320 * 240  # a box around the labelled figure, never the whole frame by default


def test_panels_leave_a_quarter_of_the_keypoints_unlabelled_and_some_occluded(tmp_path):
    visibility = np.array([a["keypoints"][2::3] for a in generated(tmp_path, panels=True)])
    assert 0.18 < (visibility == 0).mean() < 0.4 and 0.04 < (visibility == 1).mean() < 0.2
    whole = np.array([a["keypoints"][2::3] for a in generated(tmp_path / "whole", panels=False)])
    assert (whole == 1).sum() == 0 and (whole == 0).mean() < 0.05  # only the frame cuts a figure off
