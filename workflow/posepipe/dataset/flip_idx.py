"""Which keypoint each keypoint becomes when an image is flipped left to right.

Real datasets mark sides in many ways: `left_eye`, `L_Eye`, `eyeL`, `forelegL1`, `l_ankle`,
`LeftHand`, `wing-right`. A name is split into words (at `_`, `-`, `.`, spaces, camelCase and
digits); a word `left`, `right`, `l` or `r` (any case) is a side marker. Two names pair when
swapping every side marker of one gives exactly the other. Names with markers that do not
pair stop the conversion (a wrong flip_idx silently teaches mirrored keypoints); names without
any marker get no flip_idx at all, so that training does not flip (see `derive`).
"""

import re
from dataclasses import dataclass

from posepipe.infra.errors import PosepipeError

# words: a capitalised or lower-case run, an upper-case run not followed by lower case, digits,
# or any other run of characters; what lies between words is kept as is
_WORD = re.compile(r"[A-Z][a-z]+|[a-z]+|[A-Z]+(?![a-z])|[0-9]+|[^A-Za-z0-9_\-. ]+")
_SWAP = {"left": "right", "right": "left", "l": "r", "r": "l"}


@dataclass(frozen=True)
class FlipIdx:
    """The flip permutation, or None when training must not flip; how it was decided."""

    flip_idx: list[int] | None
    source: str  # "config", "derived" or "none"
    detail: str


def _with_case(word: str, like: str) -> str:
    if like.isupper():
        return word.upper()
    if like[0].isupper():
        return word.capitalize()
    return word


def mirrored(name: str) -> str | None:
    """`name` with every side marker swapped; None when it has none."""
    pieces, swapped, end = [], False, 0
    for match in _WORD.finditer(name):
        pieces.append(name[end : match.start()])
        word = match.group(0)
        other = _SWAP.get(word.lower())
        if other is not None:
            word, swapped = _with_case(other, word), True
        pieces.append(word)
        end = match.end()
    pieces.append(name[end:])
    return "".join(pieces) if swapped else None


def derive(keypoint_names: list[str], where: str) -> FlipIdx:
    """Pairs from the names' side markers; an error naming the names that carry a marker but
    have no partner; no flip_idx when no name carries one."""
    index = {name: i for i, name in enumerate(keypoint_names)}
    flip = list(range(len(keypoint_names)))
    unpaired = []
    for i, name in enumerate(keypoint_names):
        other = mirrored(name)
        if other is None:
            continue
        j = index.get(other)
        if j is None or j == i:
            unpaired.append(name)
        else:
            flip[i] = j
    pairs = sum(1 for i, j in enumerate(flip) if i < j)
    if unpaired:
        listed = ", ".join(f"'{n}'" for n in unpaired[:8]) + (", ..." if len(unpaired) > 8 else "")
        raise PosepipeError(
            f"{where}: keypoint names {listed} mark a side but have no partner with the other side "
            f"({pairs} pairs found): give flip_idx for this dataset in the config"
        )
    if pairs == 0:
        return FlipIdx(None, "none", "no keypoint name marks a side: no flip_idx, training will not flip images")
    return FlipIdx(flip, "derived", f"derived from keypoint names ({pairs} left/right pairs)")


def check(where: str, flip_idx: list[int], k: int) -> FlipIdx:
    """A flip_idx given in the config: a permutation of 0..K-1 that is its own inverse."""
    if len(flip_idx) != k or sorted(flip_idx) != list(range(k)):
        raise PosepipeError(f"{where}: flip_idx {flip_idx} is not a permutation of 0..{k - 1}")
    for i, j in enumerate(flip_idx):
        if flip_idx[j] != i:
            raise PosepipeError(
                f"{where}: flip_idx {flip_idx} is not its own inverse: {i} -> {j} but {j} -> {flip_idx[j]}"
            )
    return FlipIdx(list(flip_idx), "config", "given in the config")
