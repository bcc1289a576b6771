"""The device scoring's matching (posepipe.evaluation.device_metrics) against Ultralytics' own."""

import numpy as np
import torch
from posepipe.evaluation.device_metrics import _matcher


def drawn_image(rng: np.random.Generator) -> tuple[dict, dict]:
    """One image's detections and objects as _process_batch takes them: objects of two classes,
    detections near some of them (most of the same class) and others anywhere."""
    objects, near, far = rng.integers(1, 5), rng.integers(0, 4), rng.integers(0, 3)
    corner, size = rng.uniform(0, 100, (objects, 2)), rng.uniform(10, 50, (objects, 2))
    object_boxes, object_points = np.hstack([corner, corner + size]), rng.uniform(0, 150, (objects, 17, 2))
    classes = rng.integers(0, 2, objects)
    picked = rng.integers(0, objects, near)
    corner = rng.uniform(0, 100, (far, 2))
    boxes = np.vstack([object_boxes[picked] + rng.normal(0, 3, (near, 4)), np.hstack([corner, corner + 20])])
    points = np.vstack([object_points[picked] + rng.normal(0, 4, (near, 17, 2)), rng.uniform(0, 150, (far, 17, 2))])
    same_class = rng.uniform(size=near) < 0.8
    detection_classes = np.concatenate(
        [np.where(same_class, classes[picked], 1 - classes[picked]), rng.integers(0, 2, far)]
    )

    def tensor(array):
        return torch.tensor(np.asarray(array), dtype=torch.float32)

    preds = {
        "bboxes": tensor(boxes).reshape(-1, 4),
        "cls": tensor(detection_classes),
        "conf": tensor(np.linspace(0.9, 0.1, near + far)),  # in descending order, as Ultralytics sorts them
        "keypoints": tensor(points).reshape(-1, 17, 2),
    }
    visible = np.ones((objects, 17, 1))
    batch = {
        "bboxes": tensor(object_boxes),
        "cls": tensor(classes),
        "keypoints": tensor(np.concatenate([object_points, visible], 2)),
    }
    return preds, batch


def test_the_matcher_built_without_its_constructor_matches_as_ultralytics_validator_does():
    from ultralytics.models.yolo.pose import PoseValidator

    sigmas = np.linspace(0.025, 0.107, 17, dtype=np.float32)
    constructed = PoseValidator(args=dict(task="pose", mode="val", plots=False))
    constructed.sigma = sigmas
    ours = _matcher(sigmas)
    rng = np.random.default_rng(0)
    matched = 0
    for _ in range(50):
        preds, batch = drawn_image(rng)
        expected, got = constructed._process_batch(preds, batch), ours._process_batch(preds, batch)
        assert expected.keys() == got.keys() == {"tp", "tp_p"}
        assert all(np.array_equal(expected[key], got[key]) for key in expected)
        matched += int(expected["tp"].any()) + int(expected["tp_p"].any())
    assert matched > 20  # boxes and keypoints do match: the comparison is not of empty tables
