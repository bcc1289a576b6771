"""COCO keypoints JSON as posepipe reads it: typed records (msgspec), one-line errors that name
the file and the record, and the records' number lists parsed in bulk."""

import re
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from typing import Annotated

import msgspec
import numpy as np

from posepipe.infra.errors import PosepipeError

Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
Side = Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]


class Category(msgspec.Struct):
    id: Int64
    name: str
    keypoints: list[str] | None = None
    skeleton: list[list[int]] | None = None  # keypoint pairs to join in a drawing, 1-based in COCO


@dataclass(frozen=True)
class Categories:
    """A dataset's categories as checked (coco_records.check_categories): the classes in order."""

    ids: list[int]  # sorted: class index i is category ids[i]
    names: list[str]
    keypoint_names: list[str]
    named_keypoints: bool  # False: the JSON names none, kp0..kp{K-1} stand in
    skeleton: list[list[int]]  # 0-based keypoint pairs, [] when the dataset has none
    not_classes: list[str]  # categories left out: no keypoint names, no annotation ("id 0 'x'")
    skeleton_dropped: list[list[int]]  # pairs as given that join a keypoint the category lacks


class Image(msgspec.Struct):
    id: Int64
    file_name: str
    width: Side
    height: Side


class Annotation(msgspec.Struct):
    id: Int64
    image_id: Int64
    category_id: Int64
    # the number lists are parsed in bulk, far faster than per record; a missing bbox is derived
    # from the labelled keypoints (label_rows), as mmpose does for datasets that give none
    bbox: msgspec.Raw = msgspec.Raw(b"null")
    keypoints: msgspec.Raw = msgspec.Raw(b"null")
    iscrowd: int | bool = 0


class Coco(msgspec.Struct):
    images: list[Image]
    annotations: list[Annotation]
    categories: list[Category]


_DECODER = msgspec.json.Decoder(Coco)
_RECORD_PATH = re.compile(r"^\$\.(images|annotations|categories)\[(\d+)\]\.?(.*)$")
_RECORD_KIND = {"images": "image", "annotations": "annotation", "categories": "category"}


def read_coco(path: Path) -> Coco:
    """Parse a COCO JSON file with type checks; one-line errors name the file and the record."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise PosepipeError(f"{path}: cannot read the annotation file ({error.strerror})") from None
    try:
        return _DECODER.decode(data)
    except msgspec.ValidationError as error:
        raise PosepipeError(f"{path}: {_describe_validation_error(data, str(error))}") from None
    except msgspec.DecodeError as error:
        raise PosepipeError(f"{path}: invalid JSON ({error})") from None
    except RecursionError:
        raise PosepipeError(f"{path}: JSON nested too deeply to be a COCO file") from None


def _describe_validation_error(data: bytes, message: str) -> str:
    """Turn msgspec's "... - at `$.annotations[3].bbox`" into a message naming the record's id."""
    fault, _, where = message.partition(" - at `")
    where = where.rstrip("`")
    if not where:
        missing = re.search(r"missing required field `(\w+)`", fault)
        if missing and missing.group(1) in _RECORD_KIND:
            return f"missing '{missing.group(1)}' list"
        return fault
    match = _RECORD_PATH.match(where)
    if not match:
        return f"{where}: {fault}"
    section, index, field = match.group(1), int(match.group(2)), match.group(3)
    record = f"{_RECORD_KIND[section]} #{index}"
    try:  # slow, but only on the error path: name the record by its id when it has one
        record_id = msgspec.json.decode(data)[section][index].get("id")
        if record_id is not None:
            record = f"{_RECORD_KIND[section]} id {record_id}"
    except (msgspec.DecodeError, AttributeError, KeyError, IndexError, TypeError, RecursionError):
        pass
    if field == "" and "missing required field" in fault:
        return f"{record}: {fault.lower()}"
    return f"{record}: {field or 'record'}: {fault.lower()}"


def decode_number_list(path: Path, ann: Annotation, field: str, raw: bytes) -> list[float]:
    """A flat list of numbers. Keypoints given as points, `[[x, y, v], ...]` or `[[x, y], ...]`
    (visibility 2: labelled and visible), as some datasets store them, are flattened to x, y, v."""
    try:
        return msgspec.json.decode(raw, type=list[float])
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        if field == "keypoints" and (points := _points(raw)) is not None:
            return points
        fault, _, where = str(error).partition(" - at `$[")
        position = f" (value {where.rstrip('`]')})" if where else ""
        raise PosepipeError(
            f"{path}: annotation id {ann.id}: {field}: {fault.lower()}{position}, expected a flat list of numbers"
        ) from None


def _points(raw: bytes) -> list[float] | None:
    """`[[x, y, v], ...]` or `[[x, y], ...]` flattened to x, y, v; None for any other shape
    (ragged or deeper lists stay refused)."""
    try:
        points = msgspec.json.decode(raw, type=list[list[float]])
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    sizes = {len(point) for point in points}
    if sizes == {3}:
        return [value for point in points for value in point]
    if sizes == {2}:
        return [value for x, y in points for value in (x, y, 2.0)]
    return None


def number_lists(path: Path, anns: list[Annotation], field: str, length: int, expected: str):
    """One list of `length` numbers per annotation (`null` or `[]` for none) as an (n, length)
    float64 array, and a mask of the annotations that have one."""
    raws = list(map(attrgetter(field), anns))  # msgspec.Raw: the record's bytes, not copied
    text = b"".join(raws).translate(None, _JSON_WHITESPACE)
    if b"null" not in text and b"[]" not in text:  # the common case: every annotation has its list
        present, listed = np.ones(len(raws), dtype=bool), raws
    else:
        raws = list(map(bytes, raws))
        present = np.array([raw != b"null" and raw != b"[]" for raw in raws], dtype=bool)
        listed = [raw for raw, has in zip(raws, present) if has]
        text = b"".join(listed).translate(None, _JSON_WHITESPACE)
    parsed = _parsed_in_bulk(text, len(listed), length)
    if parsed is None:  # a faulty record (or lists of points): find and name it
        owners = [a for a, has in zip(anns, present) if has]
        parsed = _number_lists_one_by_one(path, owners, list(map(bytes, listed)), field, length, expected)
    if present.all():
        return parsed, present
    values = np.zeros((len(raws), length))
    values[present] = parsed
    return values, present


_JSON_WHITESPACE = b" \t\r\n"


def _parsed_in_bulk(text: bytes, count: int, length: int) -> np.ndarray | None:
    """`count` flat JSON number lists of `length` values, back to back without whitespace, as
    rows of a CSV text parsed by polars' reader (correctly rounded, as Python's float(); a Python
    object per number would take seconds at COCO scale). None unless every list is flat and holds
    `length` numbers."""
    import polars as pl  # here, not above: reading the records alone does not need it

    if not count:
        return np.zeros((0, length))
    if text.count(b"[") != count or text.count(b"][") != count - 1:
        return None
    columns = {f"{i}": pl.Float64 for i in range(length)}
    try:  # a row with fewer values reads as nulls, one with more is an error: both refused here
        table = pl.read_csv(text[1:-1].replace(b"][", b"\n"), has_header=False, schema=columns, quote_char=None)
    except pl.exceptions.PolarsError:
        return None
    if table.height != count or sum(table.null_count().row(0)):
        return None
    return table.to_numpy(order="c")  # row-major, as the records are read


def _number_lists_one_by_one(path, anns: list[Annotation], raws: list[bytes], field, length, expected) -> np.ndarray:
    rows = []
    for ann, raw in zip(anns, raws):
        numbers = decode_number_list(path, ann, field, raw)
        if len(numbers) != length:
            raise PosepipeError(
                f"{path}: annotation id {ann.id}: {field} has {len(numbers)} values, expected {expected}"
            )
        rows.append(numbers)
    return np.array(rows, dtype=np.float64).reshape(len(rows), length)


def column(records: list, field: str) -> np.ndarray:
    """One integer field of every record, as an array (attrgetter keeps the loop in C)."""
    return np.fromiter(map(attrgetter(field), records), dtype=np.int64, count=len(records))


def first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])
