"""YOLO label text: vectorised writing and plain reading."""

import functools
from concurrent.futures import Executor
from pathlib import Path

import numpy as np

DECIMALS = 6
_POWERS_OF_TEN = 10.0 ** np.arange(DECIMALS + 1)
_INT_POWERS_OF_TEN = 10 ** np.arange(DECIMALS + 1, dtype=np.int64)
_CHUNK_ROWS = 2048  # temporaries of a few MB, which stay in cache (bench/convert_speed.py measures it)

# Three decimal digits as bytes, which of them stay when trailing zeros are dropped, and how many.
_DIGITS3 = np.array([[ord(c) for c in f"{i:03d}"] for i in range(1000)], dtype=np.uint8)
_SIGNIFICANT3 = np.array([[i % 10 ** (3 - j) != 0 for j in range(3)] for i in range(1000)], dtype=bool)
_SHOWN3 = _SIGNIFICANT3.sum(axis=1)
# Text packed into little-endian words: the first character in the lowest byte, on any host.
_WORD = np.dtype("<u8")
# The text of a whole part below 1000 (no leading zeros) as a word, and its length.
_WHOLE_TEXT = np.array([int.from_bytes(str(i).encode(), "little") for i in range(1000)], dtype=_WORD)
_WHOLE_LENGTH = np.array([len(str(i)) for i in range(1000)], dtype=np.uint8)


def format_rows(rows: np.ndarray, workers: Executor | None = None) -> tuple[bytes, np.ndarray]:
    """Rows of numbers as text lines: six decimals (six significant digits from 1 up, as "%g"),
    trailing zeros dropped.

    Python formats one float at a time; at COCO scale (millions of values) that is most of a
    converter's time. Here each value is rounded with float arithmetic that decides ties exactly,
    its text is put together from digit tables as machine words, and a mask keeps each text's
    bytes. Chunks run on `workers` when given (numpy releases the GIL, so threads use every core).
    Returns the text and the byte length of each line.
    """
    if not len(rows):
        return b"", np.zeros(0, dtype=np.int64)
    rows = np.asarray(rows, dtype=np.float64).reshape(len(rows), -1)
    _fraction_texts()  # built once, before the threads want it
    chunks = [rows[start : start + _CHUNK_ROWS] for start in range(0, len(rows), _CHUNK_ROWS)]
    parts = list(workers.map(_format_chunk, chunks) if workers else map(_format_chunk, chunks))
    return b"".join(text for text, _ in parts), np.concatenate([lengths for _, lengths in parts])


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


def _rounded(magnitude: np.ndarray, scale: np.ndarray | float) -> np.ndarray:
    """magnitude * scale rounded to an integer, ties half to even decided on the exact product:
    numpy's rint is right only where the float product is exact (x / 640 * 1e6 lands on a float
    tie for every odd x, while the exact value lies just above or below it)."""
    shifted = magnitude * scale
    rounded = np.rint(shifted)
    tie = np.abs(rounded - shifted) == 0.5
    if tie.any():
        error = _product_error(magnitude[tie], np.broadcast_to(scale, magnitude.shape)[tie])
        nearest = rounded[tie]
        rounded[tie] = np.where(error > 0, np.ceil(shifted[tie]), np.where(error < 0, np.floor(shifted[tie]), nearest))
    return rounded.astype(np.int64)


def _round_to_micro_units(rows: np.ndarray) -> np.ndarray:
    """|rows| in millionths, rounded exactly as Python's "%g" rounds: six decimals below 1, six
    significant digits at or above 1 (1.2345678 -> 1.23457, as Ultralytics writes it)."""
    magnitude = np.abs(rows)
    micro = _rounded(magnitude, _POWERS_OF_TEN[DECIMALS])
    large = np.flatnonzero(magnitude >= 1)
    if len(large):  # whole numbers below 1e6 (class ids, visibilities) are exact already
        values = magnitude.ravel()[large]
        fewer = (values != np.floor(values)) | (values >= 10**DECIMALS)
        large, values = large[fewer], values[fewer]
        decimals = np.clip(DECIMALS - 1 - np.floor(np.log10(values)).astype(np.int64), 0, DECIMALS)
        micro.ravel()[large] = _rounded(values, _POWERS_OF_TEN[decimals]) * _INT_POWERS_OF_TEN[DECIMALS - decimals]
    return micro


def _format_chunk(rows: np.ndarray) -> tuple[bytes, np.ndarray]:
    scaled = _round_to_micro_units(rows)
    whole, fraction = np.divmod(scaled, 10**DECIMALS)
    negative = (rows < 0) & (scaled > 0)
    if whole.max() < len(_WHOLE_TEXT):
        return _text_of_small(whole, fraction, negative)
    return _text_of_any(whole, fraction, negative)


@functools.cache
def _fraction_texts() -> tuple[np.ndarray, np.ndarray]:
    """For every fraction in millionths: ".dddddd" with trailing zeros dropped (nothing for 0)
    and a separator, as a word; and its length."""
    texts = np.zeros((1000, 1000, 8), dtype=np.uint8)
    texts[..., 0] = ord(".")
    texts[..., 1:4] = _DIGITS3[:, None, :]
    texts[..., 4:7] = _DIGITS3[None, :, :]
    shown = np.where(np.arange(1000) != 0, 3 + _SHOWN3[None, :], _SHOWN3[:, None])  # digits kept
    lengths = np.where(shown == 0, 1, shown + 2)  # the point, the digits, the separator
    texts[np.arange(8) >= lengths[..., None]] = 0
    np.put_along_axis(texts, (lengths - 1)[..., None], ord(" "), axis=2)
    return texts.view(_WORD).ravel(), lengths.astype(np.uint8).ravel()


def _text_of_small(whole: np.ndarray, fraction: np.ndarray, negative: np.ndarray) -> tuple[bytes, np.ndarray]:
    """Values below 1000: sign and whole part (at most 4 bytes) in one word, the fraction's text
    shifted in after it, spilling into a second word; the separator ending each row a newline."""
    fraction_text, fraction_length = _fraction_texts()
    tail = fraction_text[fraction]
    head = _WHOLE_TEXT[whole]
    head_length = _WHOLE_LENGTH[whole] + negative
    if negative.any():
        head[negative] = (head[negative] << np.uint64(8)) | np.uint64(ord("-"))
    shift = head_length.astype(np.uint64) * np.uint64(8)
    words = np.empty((*whole.shape, 2), dtype=_WORD)
    words[..., 0] = head | (tail << shift)
    words[..., 1] = tail >> (np.uint64(64) - shift)
    lengths = head_length + fraction_length[fraction]
    text = words.view(np.uint8).reshape(*whole.shape, 16)[np.arange(16, dtype=np.uint8) < lengths[..., None]]
    line_lengths = lengths.sum(axis=1, dtype=np.int64)
    text[np.cumsum(line_lengths) - 1] = ord("\n")
    return text.tobytes(), line_lengths


def _text_of_any(whole: np.ndarray, fraction: np.ndarray, negative: np.ndarray) -> tuple[bytes, np.ndarray]:
    """Any values: a fixed-width field of digit bytes per value, and a mask that drops leading
    zeros, trailing zeros and unused signs."""
    n, m = whole.shape
    high, low = np.divmod(fraction.astype(np.int32), 1000)
    int_digits = len(str(int(whole.max())))
    width = 1 + int_digits + 1 + DECIMALS + 1  # sign, integer part, point, fraction, separator
    field = np.empty((n, m, width), dtype=np.uint8)
    keep = np.empty((n, m, width), dtype=bool)
    field[..., 0] = ord("-")
    keep[..., 0] = negative
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
