"""The records' number lists parsed in bulk: equal to a per-number parse, refused row by row."""

import json
import random

import msgspec
import numpy as np
import pytest
from posepipe.dataset.coco_json import Annotation, number_lists
from posepipe.infra.errors import PosepipeError


def annotations(lists: list) -> list[Annotation]:
    records = [{"id": 100 + i, "image_id": 1, "category_id": 1, "keypoints": v} for i, v in enumerate(lists)]
    return msgspec.json.decode(json.dumps(records), type=list[Annotation])


def spellings(rng: random.Random) -> str:
    """A JSON number as tools write it: integers, short decimals, Python's 17-digit repr,
    exponents, negative zero."""
    kind = rng.randrange(5)
    if kind == 0:
        return str(rng.randrange(-5000, 5000))
    if kind == 1:
        return f"{rng.uniform(0, 4000):.2f}"
    if kind == 2:
        return repr(rng.uniform(-4000, 4000))
    if kind == 3:
        return f"{rng.uniform(1, 9):.15f}e{rng.randrange(-8, 4)}"
    return "-0.0"


def test_bulk_parse_equals_a_per_number_parse():
    rng = random.Random(0)
    rows = [[spellings(rng) for _ in range(6)] for _ in range(2000)]
    text = [msgspec.Raw(f"[ {', '.join(row)} ]".encode()) for row in rows]
    anns = annotations([None] * len(rows))
    for ann, raw in zip(anns, text):
        ann.keypoints = raw
    values, present = number_lists("x.json", anns, "keypoints", 6, "6")
    expected = np.array([[float(v) for v in row] for row in rows])
    assert present.all()
    assert (values == expected).all() and (np.signbit(values) == np.signbit(expected)).all()


def test_absent_and_empty_lists_are_marked_absent():
    values, present = number_lists("x.json", annotations([[1, 2, 2], None, [], [4, 5, 1]]), "keypoints", 3, "3")
    assert present.tolist() == [True, False, False, True]
    assert values.tolist() == [[1, 2, 2], [0, 0, 0], [0, 0, 0], [4, 5, 1]]


@pytest.mark.parametrize(
    ("lists", "fault"),
    [
        # the total is 2 x 3 values, but the rows are ragged
        ([[1, 2, 2, 4, 5], [6]], "annotation id 100: keypoints has 5 values, expected 3"),
        ([[1, 2, 2], [1, 2]], "annotation id 101: keypoints has 2 values, expected 3"),
        ([[1, 2, 2], [1, 2, 2, 3]], "annotation id 101: keypoints has 4 values, expected 3"),
        ([[1, 2, 2], [1, None, 2]], "annotation id 101: keypoints: expected `float`, got `null`"),
        ([[1, "2,3", 2]], "annotation id 100: keypoints: expected `float`, got `str`"),
        ([[1, 2, 2], [[1, 2], [3]]], "annotation id 101: keypoints: expected `float`, got `array`"),
    ],
)
def test_faulty_rows_are_named(lists, fault):
    with pytest.raises(PosepipeError, match="^x.json: ") as error:
        number_lists("x.json", annotations(lists), "keypoints", 3, "3")
    assert fault in str(error.value)
