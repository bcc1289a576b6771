"""A search's points (ordinary model entries) and the choice across them, on fabricated rows:
the frame-rate target, the accuracy gate, intervals that overlap (the faster wins), and
nothing that can ship."""

import pytest
from posepipe.evaluation.search import choose_across, frontier, search_faults, search_points
from posepipe.infra.errors import PosepipeError


def row(point: str, recipe: str, accuracy: float, interval: float, fps: float, within: bool = True) -> dict:
    return {
        "point": point,
        "recipe": recipe,
        "pose_mAP50-95": accuracy,
        "pose_mAP50-95_interval": [accuracy - interval, accuracy + interval],
        "estimated_fps": fps,
        "within_gate": within,
        "outside_gate": [] if within else ["pose mAP50-95 drop +0.200 > 0.05"],
    }


def chosen_of(rows, target=30.0, if_no_point_meets="fail"):
    chosen, _ = choose_across(rows, target, if_no_point_meets, "hands")
    return f"{chosen['point']} {chosen['recipe']}"


def test_the_most_accurate_that_meets_the_target_ships():
    rows = [
        row("big", "int8", 0.60, 0.01, 20.0),
        row("small", "int8", 0.40, 0.01, 60.0),
        row("mid", "int8", 0.50, 0.01, 35.0),
    ]
    assert chosen_of(rows) == "mid int8"
    assert rows[0]["why"] == "pose mAP50-95 0.600 at 20.0 fps: under the target of 30 fps"
    assert rows[1]["why"] == "pose mAP50-95 0.400 at 60.0 fps: less accurate than the chosen (0.500)"
    assert rows[2]["why"] == "chosen: the most accurate at 30 fps or more"
    assert chosen_of(rows, target=15.0) == "big int8"


def test_a_row_outside_its_accuracy_gate_never_ships():
    rows = [row("a", "int8", 0.70, 0.01, 50.0, within=False), row("a", "bf16", 0.55, 0.01, 40.0)]
    assert chosen_of(rows) == "a bf16"
    assert rows[0]["why"] == "outside the accuracy gate: pose mAP50-95 drop +0.200 > 0.05"


def test_where_the_intervals_cannot_tell_two_apart_the_faster_ships():
    overlapping = [row("a", "bf16", 0.52, 0.05, 31.0), row("b", "int8", 0.50, 0.05, 45.0)]
    assert chosen_of(overlapping) == "b int8"
    assert overlapping[1]["why"] == "chosen: the most accurate at 30 fps or more: as accurate as a bf16 within " \
        "their 95% intervals, and faster"  # fmt: skip
    assert overlapping[0]["why"].endswith("as accurate as the chosen within the 95% intervals, and not faster")
    apart = [row("a", "bf16", 0.52, 0.005, 31.0), row("b", "int8", 0.50, 0.005, 45.0)]
    assert chosen_of(apart) == "a bf16"


def test_nothing_within_the_gate_fails_in_one_line():
    with pytest.raises(PosepipeError, match=r"^search hands: no \(point, recipe\) is within its accuracy gate"):
        chosen_of([row("a", "int8", 0.5, 0.01, 50.0, within=False)])


def test_no_point_meeting_the_target_fails_in_one_line_naming_the_fastest_or_ships_it_when_asked():
    rows = [
        row("big", "int8", 0.6, 0.01, 12.0),
        row("small", "int8", 0.4, 0.01, 24.5),
        row("small", "x", 0.1, 0, 90.0, False),
    ]
    expected = r"^search hands: no point meets target_fps 30: the fastest, small x, is estimated at 90\.0 fps"
    with pytest.raises(PosepipeError, match=expected) as raised:
        chosen_of(rows)
    assert "\n" not in str(raised.value)
    assert chosen_of(rows, if_no_point_meets="fastest") == "small int8"
    assert rows[0]["why"] == "pose mAP50-95 0.600 at 12.0 fps: slower than the chosen, and no point meets 30 fps"


def test_the_frontier_keeps_what_no_row_beats_on_both_axes():
    rows = [
        row("a", "1", 0.6, 0, 10.0),
        row("b", "1", 0.5, 0, 20.0),
        row("c", "1", 0.4, 0, 15.0),
        row("d", "1", 0.3, 0, 40.0),
    ]
    assert [r["point"] for r in frontier(rows)] == ["a", "b", "d"]


SEARCH = {
    "dataset": "hands",
    "architectures": ["yolov8n-pose.yaml", "yolo11n-pose.yaml"],
    "imgsz": [[224, 320], [320, 320]],
    "epochs": 100,
    "target_fps": 30,
}


def test_every_architecture_at_every_size_is_a_model_entry_like_one_written_by_hand():
    points = search_points("hands", SEARCH)
    assert list(points) == [
        "hands.yolov8n-pose_224x320", "hands.yolov8n-pose_320x320", "hands.yolo11n-pose_224x320",
        "hands.yolo11n-pose_320x320",
    ]  # fmt: skip
    by_hand = {"dataset": "hands", "architecture": "yolo11n-pose.yaml", "imgsz": [224, 320], "epochs": 100}
    assert points["hands.yolo11n-pose_224x320"] == by_hand


def test_a_point_listed_alone_adds_one_model():
    more = search_points("hands", {**SEARCH, "points": [{"architecture": "yolov8s-pose.yaml", "imgsz": [192, 256]}]})
    assert list(more)[-1] == "hands.yolov8s-pose_192x256" and len(more) == 5


def test_a_search_s_faults_are_one_line_each():
    config = {
        "datasets": {"hands": {}},
        "models": {"hands.yolov8n-pose_224x320": {}},
        "searches": {"hands": {**SEARCH, "measured_fps": {"yolov8n-pose_999x320": 20}}, "empty": {"dataset": "feet"}},
    }
    assert search_faults(config) == [
        "searches.hands: point 'hands.yolov8n-pose_224x320' is also a model name",
        "searches.hands.measured_fps: 'yolov8n-pose_999x320' is not a point of the search (yolo11n-pose_224x320, "
        "yolo11n-pose_320x320, yolov8n-pose_224x320, yolov8n-pose_320x320)",
        "searches.empty.dataset: 'feet' is not one of datasets: hands",
        "searches.empty: no point: give architectures and imgsz, or points",
    ]
