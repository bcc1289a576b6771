"""YOLO label text: vectorised writing and plain reading."""

from concurrent.futures import Executor
from pathlib import Path

import numpy as np

DECIMALS = 6
_POWERS_OF_TEN = 10.0 ** np.arange(DECIMALS + 1)
_INT_POWERS_OF_TEN = 10 ** np.arange(DECIMALS + 1, dtype=np.int64)
_CHUNK_ROWS = 16_384  # bounds the temporary arrays to a few MB, cache-friendly


def format_rows(rows: np.ndarray, workers: Executor | None = None) -> tuple[bytes, np.ndarray]:
    """Rows of numbers as text lines: six decimals (six significant digits from 1 up, as "%g"),
    trailing zeros dropped.

    Python formats one float at a time; at COCO scale (millions of values) that is most of a
    converter's time. Here every value gets a fixed-width field of digit bytes computed with
    integer arithmetic, and a mask drops leading zeros, trailing zeros and unused signs.
    Chunks run on `workers` when given (numpy releases the GIL, so threads use every core).
    Returns the text and the byte length of each line.
    """
    if not len(rows):
        return b"", np.zeros(0, dtype=np.int64)
    rows = np.asarray(rows, dtype=np.float64).reshape(len(rows), -1)
    chunks = [rows[start : start + _CHUNK_ROWS] for start in range(0, len(rows), _CHUNK_ROWS)]
    parts = list(workers.map(_format_chunk, chunks) if workers else map(_format_chunk, chunks))
    return b"".join(text for text, _ in parts), np.concatenate([lengths for _, lengths in parts])


# Three decimal digits as bytes, and which of them stay when trailing zeros are dropped.
_DIGITS3 = np.array([[ord(c) for c in f"{i:03d}"] for i in range(1000)], dtype=np.uint8)
_SIGNIFICANT3 = np.array([[i % 10 ** (3 - j) != 0 for j in range(3)] for i in range(1000)], dtype=bool)


def _product_error(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The exact rounding error of a * b in float64 (Dekker's two-product): a*b == fl(a*b) + error."""

    def split(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c = 134217729.0 * x  # 2**27 + 1
        high = c - (c - x)
        return high, x - high

    product = a * b
    a_high, a_low = split(a)
    b_high, b_low = split(b)
    return ((a_high * b_high - product) + a_high * b_low + a_low * b_high) + a_low * b_low


def _round_to_micro_units(rows: np.ndarray) -> np.ndarray:
    """|rows| in millionths, rounded exactly as Python's "%g" rounds: six significant digits at or
    above 1 (1.2345678 -> 1.23457, as Ultralytics writes it), six decimals below 1, and ties
    decided on the exact binary value (x / 640 lands on a float tie for every odd x)."""
    magnitude = np.abs(rows)
    large = magnitude >= 1
    if large.any():
        decimals = np.full(rows.shape, DECIMALS, dtype=np.int64)
        whole_digits = np.floor(np.log10(magnitude[large])).astype(np.int64) + 1
        decimals[large] = np.clip(DECIMALS - whole_digits, 0, DECIMALS)
        scale = _POWERS_OF_TEN[decimals]
    else:  # the common case: normalised coordinates, six decimals everywhere
        decimals, scale = DECIMALS, _POWERS_OF_TEN[DECIMALS]
    shifted = magnitude * scale
    rounded = np.rint(shifted)  # ties to even: right only when the product is exact
    tie = shifted - np.floor(shifted) == 0.5
    if tie.any():
        error = _product_error(magnitude[tie], np.broadcast_to(scale, rows.shape)[tie])
        floor = np.floor(shifted[tie])
        rounded[tie] = np.where(error > 0, floor + 1, np.where(error < 0, floor, rounded[tie]))
    return rounded.astype(np.int64) * _INT_POWERS_OF_TEN[DECIMALS - decimals]


def _format_chunk(rows: np.ndarray) -> tuple[bytes, np.ndarray]:
    n, m = rows.shape
    scaled = _round_to_micro_units(rows)
    whole, fraction = np.divmod(scaled, 10**DECIMALS)
    high, low = np.divmod(fraction.astype(np.int32), 1000)
    int_digits = max(1, len(str(int(whole.max())))) if whole.size else 1
    width = 1 + int_digits + 1 + DECIMALS + 1  # sign, integer part, point, fraction, separator
    field = np.empty((n, m, width), dtype=np.uint8)
    keep = np.empty((n, m, width), dtype=bool)
    field[..., 0] = ord("-")
    keep[..., 0] = (rows < 0) & (scaled > 0)
    for position in range(int_digits):  # leading zeros go, but the units digit always stays
        power = 10 ** (int_digits - 1 - position)
        field[..., 1 + position] = (whole // power) % 10 + ord("0") if power > 1 else whole % 10 + ord("0")
        keep[..., 1 + position] = whole >= power if power > 1 else True
    point = 1 + int_digits
    field[..., point] = ord(".")
    keep[..., point] = fraction > 0
    field[..., point + 1 : point + 4] = _DIGITS3[high]
    field[..., point + 4 : point + 7] = _DIGITS3[low]
    low_nonzero = (low != 0)[..., None]
    keep[..., point + 1 : point + 4] = _SIGNIFICANT3[high] | low_nonzero
    keep[..., point + 4 : point + 7] = _SIGNIFICANT3[low]
    field[..., -1] = ord(" ")
    field[:, -1, -1] = ord("\n")
    keep[..., -1] = True
    return field[keep].tobytes(), keep.reshape(n, -1).sum(axis=1)


def read_label_file(path: Path) -> np.ndarray:
    """A YOLO label file as an (instances, values) float64 array; (0, 0) when empty."""
    lines = [line.split() for line in Path(path).read_text().splitlines() if line.strip()]
    if not lines:
        return np.zeros((0, 0))
    return np.array(lines, dtype=np.float64)
