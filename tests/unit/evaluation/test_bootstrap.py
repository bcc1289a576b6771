"""The gate's confidence: a paired bootstrap of a candidate's pose mAP50-95 drop over the val
images (posepipe.evaluation.bootstrap), on per-image stats built on purpose."""

import numpy as np
import pytest
from posepipe.evaluation import bootstrap
from posepipe.evaluation.selection import drops, warn_if_unresolved
from posepipe.infra.errors import PosepipeError
from ultralytics.utils.metrics import PoseMetrics


def image_stats(hits: list[bool], rng: np.random.Generator, classes: int = 1) -> dict:
    """One image: two labelled instances, two detections; each detection a pose match at every
    OKS threshold when `hits` says so, none otherwise."""
    return {
        "tp_p": np.repeat(np.array(hits, dtype=bool)[:, None], 10, axis=1),
        "tp": np.ones((len(hits), 10), dtype=bool),
        "conf": rng.uniform(0.3, 1.0, len(hits)).astype(np.float32),
        "pred_cls": rng.integers(0, classes, len(hits)).astype(np.float32),
        "target_cls": np.zeros(2, dtype=np.float32),
        # both objects of size 50, their one keypoint placed 2 px off, drawn
        "kp_size": np.full(2, 50.0),
        "kp_labelled": np.ones((2, 1), dtype=bool),
        "kp_error": np.full((2, 1), 2.0),
        "kp_shown": np.ones((2, 1), dtype=bool),
    }


def saved(tmp_path, name: str, per_image: dict) -> dict:
    path = tmp_path / f"{name}.npz"
    bootstrap.save_image_stats(path, per_image)
    return bootstrap.load_image_stats(path)


@pytest.fixture
def float_and_worse(tmp_path):
    """24 val images the float model gets right; a candidate that misses one keypoint set in
    every third image."""
    rng = np.random.default_rng(1)
    reference = {f"im{i:02d}.jpg": image_stats([True, True], rng) for i in range(24)}
    missed = np.array([[True], [False]])  # the second detection matches at no OKS threshold
    candidate = {
        name: {**stats, "tp_p": stats["tp_p"] & missed} if i % 3 == 0 else stats
        for i, (name, stats) in enumerate(reference.items())
    }
    return saved(tmp_path, "reference", reference), saved(tmp_path, "candidate", candidate)


def test_on_every_image_once_it_is_ultralytics_pose_map(tmp_path):
    rng = np.random.default_rng(2)
    per_image = {f"im{i}.jpg": image_stats(list(rng.random(3) < 0.6), rng, classes=2) for i in range(12)}
    per_image["empty.jpg"] = {**image_stats([], rng), "target_cls": np.zeros(0, np.float32)}
    metrics = PoseMetrics(names={0: "a", 1: "b"})
    for name, stats in per_image.items():
        metrics.update_stats({**stats, "target_img": np.unique(stats["target_cls"]), "im_name": name})
    metrics.process()
    stats = saved(tmp_path, "mixed", per_image)
    assert bootstrap.pose_map(stats, np.arange(len(per_image))) == pytest.approx(metrics.pose.map, abs=1e-9)


def test_a_candidate_equal_to_the_float_model_has_a_zero_interval(float_and_worse):
    reference, _ = float_and_worse
    draws = bootstrap.resample_draws(len(reference["images"]))
    maps = bootstrap.pose_maps(reference, draws)
    assert bootstrap.drop_interval(maps, maps) == [0.0, 0.0]


def test_a_worse_candidate_s_interval_holds_its_drop_and_excludes_zero(float_and_worse):
    reference, candidate = float_and_worse
    everything = np.arange(len(reference["images"]))
    drop = bootstrap.pose_map(reference, everything) - bootstrap.pose_map(candidate, everything)
    draws = bootstrap.resample_draws(len(reference["images"]))
    low, high = bootstrap.drop_interval(bootstrap.pose_maps(reference, draws), bootstrap.pose_maps(candidate, draws))
    assert 0 < low < drop < high
    # seeded: the same draws, the same interval
    again = bootstrap.resample_draws(len(reference["images"]))
    assert np.array_equal(draws, again) and not np.array_equal(draws, bootstrap.resample_draws(24, seed=1))


def test_intervals_come_from_the_files_and_pair_only_the_same_images(float_and_worse, tmp_path):
    reference, candidate = float_and_worse
    rng = np.random.default_rng(3)
    bootstrap.save_image_stats(tmp_path / "other.npz", {"elsewhere.jpg": image_stats([True], rng)})
    found = drops(tmp_path / "reference.npz", {"same": tmp_path / "reference.npz"}, ["nose"])
    assert found["same"]["interval"] == [0.0, 0.0]
    assert found["same"]["worst_keypoint"] == {
        "keypoint": "nose", "figure": "pck@0.1", "drop": 0.0, "drop_interval": [0.0, 0.0], "drops": {"nose": 0.0}
    }  # fmt: skip
    with pytest.raises(PosepipeError, match=r"other\.npz: scored on other val images than .*reference\.npz"):
        drops(tmp_path / "reference.npz", {"odd": tmp_path / "other.npz"}, ["nose"])


def test_an_interval_wider_than_the_gate_warns_once_with_an_image_count(caplog):
    rows = [
        {"recipe": "int8", "pose_mAP50-95_drop_interval": [-0.01, 0.03]},
        {"recipe": "bf16", "pose_mAP50-95_drop_interval": [-0.005, 0.005]},
    ]
    warn_if_unresolved(rows, 16, 0.02)
    (warning,) = [r for r in caplog.records if r.levelname == "WARNING"]
    assert "16 images" in warning.getMessage() and "int8" in warning.getMessage()
    assert "roughly 64 val images" in warning.getMessage()  # width 0.04: 16 x (0.04 / 0.02)^2
    caplog.clear()
    warn_if_unresolved(rows, 16, 0.05)
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
