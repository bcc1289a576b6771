"""Label text: six decimals (six significant digits from 1 up), rounded exactly as Python does."""

import numpy as np
import pytest
from posepipe.dataset import label_text as labels
from posepipe.dataset.label_text import format_rows, read_label_file


def python_reference(value: float) -> str:
    return "%g" % value if abs(value) >= 1 else "%.6f" % value  # noqa: UP031 (the reference is printf formatting itself)


def values_to_format() -> np.ndarray:
    rng = np.random.default_rng(7)
    widths = rng.choice([640, 500, 427, 333, 612, 375], size=40_000)
    pixels = rng.integers(0, 641, size=40_000)
    return np.concatenate(
        [
            pixels / widths,  # x / 640 lands on a float tie for every odd x
            rng.random(8_000),
            rng.random(2_000) * 300 - 150,
            np.round(rng.random(2_000), 7),
            rng.integers(0, 999, 2_000),  # class ids
            [0.0, -0.0, 1.0, 2.0, 0.5, 1e-7, 5e-7, 0.0000005000001, 9.9999996, -998.9999996],
        ]
    )


# Values below 1000 are put together from word tables, any others digit by digit: both ways checked.
@pytest.mark.parametrize("large", [[], [123456.4, 999.9999996, 2.5e7, -1000.0]], ids=["below-1000", "any"])
def test_values_round_exactly_as_python_formats_them(large):
    values = np.concatenate([large, values_to_format()])
    values = np.resize(values, (len(values) // 8, 8))
    text, lengths = format_rows(values)
    lines = text.decode().splitlines()
    assert len(lines) == len(values) and lengths.sum() == len(text)
    for row, line in zip(values, lines):
        assert [float(t) for t in line.split()] == [float(python_reference(v)) for v in row]


def test_both_ways_of_writing_give_the_same_bytes():
    values = np.resize(values_to_format(), (6_000, 9))
    whole, fraction = np.divmod(labels._round_to_micro_units(values), 10**labels.DECIMALS)
    negative = (values < 0) & (whole + fraction > 0)
    small, small_lengths = labels._text_of_small(whole, fraction, negative)
    any_, any_lengths = labels._text_of_any(whole, fraction, negative)
    assert small == any_ and small_lengths.tolist() == any_lengths.tolist()


def test_text_is_compact_and_parses_back(tmp_path):
    text, lengths = format_rows(np.array([[0, 0.5, 0.25, 1, 0.000001], [3, -0.125, 2, 0, 10.5]]))
    assert text == b"0 0.5 0.25 1 0.000001\n3 -0.125 2 0 10.5\n"
    assert lengths.tolist() == [22, 18]
    (tmp_path / "a.txt").write_bytes(text)
    assert read_label_file(tmp_path / "a.txt").shape == (2, 5)


def test_no_rows_is_empty_text():
    text, lengths = format_rows(np.zeros((0, 5)))
    assert text == b"" and len(lengths) == 0
