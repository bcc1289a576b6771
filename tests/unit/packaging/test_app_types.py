"""The generated main.py type-checked against the MaixPy API as the device has it: the `.pyi`
stubs of the pinned MaixPy release's wheel (support/maixpy_api.py). A wrong keyword, a colour
given as a tuple, or a detect() argument that does not exist fails here, not on the device."""

import pytest
from posepipe.packaging.app import OLDEST_MAIXPY, main_py
from support.maixpy_api import PREVIOUS_RELEASE, pinned_version, stub_env, type_errors

SETTINGS = {"name": None, "conf_th": None, "iou_th": 0.45, "keypoint_th": None}
MEASURED = {"conf_th": 0.35, "detection_f1": 0.8125, "keypoint_th": 0.6, "keypoint_f1": 0.75}


@pytest.fixture(scope="module")
def maixpy():
    return stub_env()


def generated(model_type: str, skeleton: list) -> str:
    return main_py("hands", "hands.mud", model_type, skeleton, SETTINGS, MEASURED, 120.0)


def test_the_two_stubs_no_parser_takes_are_mended(maixpy):
    release = maixpy / "releases" / pinned_version()
    assert (release / "mended.txt").read_text().split() == ["maix/_maix/example.pyi", "maix/_maix/pipeline.pyi"]
    assert "def get_dict(self, in_: dict[str, int])" in (release / "stubs/maix/_maix/example.pyi").read_text()


# mistake -> (the line's right text, the wrong one, what mypy says of it)
PLANTED = {
    "a keyword the constructor lacks": (
        "dual_buff=True",
        "dual_buffer=True",
        'Unexpected keyword argument "dual_buffer" for "YOLOv8"',
    ),
    "a tuple where image.Color is wanted": (
        "BOX_COLOR = image.COLOR_RED",
        "BOX_COLOR = (255, 0, 0)",
        'has incompatible type "tuple[int, int, int]"; expected "Color"',
    ),
    "a detect() argument that does not exist": (
        "conf_th=CONF_TH",
        "conf=CONF_TH",
        'Unexpected keyword argument "conf" for "detect" of "YOLOv8"',
    ),
}


def planted(mistake: str) -> str:
    right, wrong, _ = PLANTED[mistake]
    source = generated("yolov8", [[0, 1]])
    assert right in source  # the line the mistake replaces is there to replace
    return source.replace(right, wrong)


@pytest.fixture(scope="module")
def pinned_checks(maixpy, tmp_path_factory) -> dict[str, list[str]]:
    """The generated apps and each planted mistake, checked against the pinned release in one
    mypy run (a run reads every stub: seconds)."""
    sources = {"yolov8": generated("yolov8", [[0, 1], [1, 2]]), "yolo11": generated("yolo11", [])}
    sources |= {f"planted_{index}": planted(mistake) for index, mistake in enumerate(PLANTED)}
    return type_errors(sources, tmp_path_factory.mktemp("pinned"), maixpy)


@pytest.mark.parametrize("model_type", ["yolov8", "yolo11"])
def test_the_generated_app_type_checks_against_maixpy(pinned_checks, model_type):
    assert pinned_checks[model_type] == []


@pytest.mark.parametrize("mistake", PLANTED)
def test_a_planted_mistake_fails_the_check(pinned_checks, mistake):
    message = PLANTED[mistake][2]
    errors = pinned_checks[f"planted_{list(PLANTED).index(mistake)}"]
    assert errors and all(message in error for error in errors), errors


# what the release before the oldest one lacks (docs/app.md, "Which MaixPy")
LACKING = {"yolov8": 'Module has no attribute "fps"', "yolo11": 'Module has no attribute "YOLO11"'}


@pytest.mark.parametrize("model_type", sorted(OLDEST_MAIXPY))
def test_the_app_type_checks_from_the_oldest_release_it_names_and_not_before(maixpy, tmp_path, model_type):
    source = {"app": generated(model_type, [[0, 1]])}
    oldest = OLDEST_MAIXPY[model_type]
    assert type_errors(source, tmp_path, maixpy, oldest) == {"app": []}
    errors = type_errors(source, tmp_path, maixpy, PREVIOUS_RELEASE[oldest])["app"]
    assert errors and any(LACKING[model_type] in error for error in errors), errors
