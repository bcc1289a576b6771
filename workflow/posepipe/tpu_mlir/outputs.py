"""What the TPU-MLIR tools write, read back: the similarity blocks they print, the BF16 layers
of a built cvimodel, the layers of an MLIR, and the tables and cvimodels made byte-stable
(no build time, layer tables sorted)."""

import hashlib
import logging
import math
import re
from pathlib import Path

log = logging.getLogger("posepipe.tpu_mlir.quantize")

_BLOCK = re.compile(
    r"^\[(?P<tensor>.+?)\s*\]\s+(?P<verdict>[A-Z_]+) \[(?P<result>PASSED|FAILED)\]\s*$"
    r"(?:\s*^\s*\([0-9, ]*\)\s+\w+\s*$)?"  # model_deploy prints the shape and dtype first
    r"(?:\s*^\s*cosine_similarity\s*=\s*(?P<cosine>\S+)\s*$)?"
    r"(?:\s*^\s*euclidean_similarity\s*=\s*(?P<euclidean>\S+)\s*$)?"
    r"(?:\s*^\s*sqnr_similarity\s*=\s*(?P<sqnr>\S+)\s*$)?",
    re.MULTILINE,
)


def parse_similarity(text: str) -> list[dict]:
    """Every comparison block the tools print: tensor, verdict, passed, cosine, euclidean, sqnr."""
    blocks = []
    for match in _BLOCK.finditer(text):
        block = {"tensor": match["tensor"], "verdict": match["verdict"], "passed": match["result"] == "PASSED"}
        for key in ("cosine", "euclidean", "sqnr"):
            if match[key] is not None:
                block[key] = float(match[key])
        blocks.append(block)
    return blocks


# A cvimodel stores its build time, and its header the md5 of all that follows the header
# (magic[8], body_size u32, major, minor, md5[16], chip[16], padding[2]). Setting the time to a
# constant and recomputing the md5 makes the same inputs give the same bytes.
CVIMODEL_HEADER = 48
BUILD_TIME = re.compile(rb"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
FIXED_BUILD_TIME = b"1970-01-01 00:00:00"


def fixed_build_time(cvimodel: bytes) -> bytes:
    body_size = int.from_bytes(cvimodel[8:12], "little")
    stamps = list(BUILD_TIME.finditer(cvimodel, CVIMODEL_HEADER, CVIMODEL_HEADER + body_size))
    if cvimodel[:8] != b"CviModel" or len(stamps) != 1:
        log.warning("cvimodel layout not recognised (%d build times): its build time stays in it", len(stamps))
        return cvimodel
    start, end = stamps[0].span()
    rest = cvimodel[CVIMODEL_HEADER:start] + FIXED_BUILD_TIME + cvimodel[end:]
    return cvimodel[:14] + hashlib.md5(rest).digest() + cvimodel[30:CVIMODEL_HEADER] + rest


def mlir_layers(mlir: Path) -> set[str]:
    return set(re.findall(r'loc\("([^"]+)"\)', Path(mlir).read_text()))


# model_deploy's listing names loads and stores by prefix and type casts by suffix: not layers
_NOT_A_LAYER = re.compile(r"^(load|store)_|_(bf16|f32|fp32|int8|uint8)$")


def bf16_content(tensor_info: Path) -> dict:
    """What the cvimodel really computes in BF16, from model_deploy's command-buffer listing
    (`*_tensor_info.txt`: one row per tensor slice with its shape and type): the BF16 layers, and
    the share of all layers' output elements that are BF16, the cost figure (see choose())."""
    rows = [line.split() for line in Path(tensor_info).read_text().splitlines()[1:]]
    layers = {}  # name -> (type, elements); a layer split into slices is listed once per slice
    for row in rows:
        if len(row) == 10 and row[8] != "x" and row[5] != "x" and not _NOT_A_LAYER.search(row[1]):
            layers.setdefault(row[1], (row[8], math.prod(int(v) for v in row[5].split(","))))
    total = sum(elements for _, elements in layers.values())
    bf16 = {name: elements for name, (kind, elements) in layers.items() if kind == "bf16"}
    return {
        "layers": sorted(bf16),
        "layer_count": len(layers),
        "elements_share": round(sum(bf16.values()) / total, 6) if total else 0.0,
    }


def without_time_lines(table: str) -> str:
    """A TPU-MLIR table without the time it was written (same inputs, same bytes)."""
    return "".join(
        line
        for line in table.splitlines(keepends=True)
        if not line.startswith(("# genetated time", "# generated time"))
    )


def sorted_layer_table(table: str) -> tuple[str, list[str]]:
    """A TPU-MLIR layer table (`# ...` comments, then `LAYER TYPE` lines) with its layers sorted
    and no time stamp, and the layers' names: fp_forward writes them in Python set order."""
    lines = without_time_lines(table).splitlines()
    comments = [line for line in lines if line.startswith("#")]
    layers = sorted(line for line in lines if line and not line.startswith("#"))
    return "".join(f"{line}\n" for line in comments + layers), [line.split()[0] for line in layers]
