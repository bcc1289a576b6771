"""Image files: their size from the header alone, and hard links into a dataset folder."""

import errno
import os
import shutil
import struct
from pathlib import Path

from PIL import Image

from posepipe.errors import PosepipeError

_HEAD_BYTES = 8192  # holds the frame header of nearly every JPEG (large EXIF blocks go to PIL)
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(head: bytes) -> tuple[int, int] | None:
    """Walk the JPEG markers in `head` to the frame header; None when not found there."""
    position = 2
    while position + 9 <= len(head):
        if head[position] != 0xFF:
            return None
        marker = head[position + 1]
        if marker == 0xFF:  # fill byte before a marker
            position += 1
            continue
        if marker in _JPEG_SOF:
            height, width = struct.unpack_from(">HH", head, position + 5)
            return width, height
        (length,) = struct.unpack_from(">H", head, position + 2)
        position += 2 + length
    return None


def image_size(path: str) -> tuple[int, int]:
    """(width, height) as stored in the file, from its first bytes for JPEG and PNG, else via PIL."""
    with open(path, "rb") as f:
        head = f.read(_HEAD_BYTES)
    if head[:2] == b"\xff\xd8":
        size = _jpeg_size(head)
        if size:
            return size
    elif head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        return struct.unpack(">II", head[16:24])
    with Image.open(path) as image:  # other formats, or a JPEG whose frame header lies further in
        return image.size


def check_sizes(annotations: Path, image_dir: Path, file_names: list[str], sizes: list[tuple[int, int]]) -> None:
    """Every image exists, is readable and has the width and height its JSON record declares."""
    prefix = str(image_dir)
    for file_name, declared in zip(file_names, sizes):
        path = f"{prefix}/{file_name}"
        try:
            actual = image_size(path)
        except FileNotFoundError:
            raise PosepipeError(f"{annotations}: image '{file_name}': file missing in {image_dir}") from None
        except Exception as error:  # any decoder failure (PIL plugins raise their own types) means unreadable
            raise PosepipeError(f"{annotations}: image '{file_name}': unreadable ({error})") from None
        if tuple(actual) != tuple(declared):
            raise PosepipeError(
                f"{annotations}: image '{file_name}': the JSON says {declared[0]}x{declared[1]}, "
                f"the file is {actual[0]}x{actual[1]}"
            )


def link_all(source_dir: Path, target_dir: Path, file_names: list[str]) -> None:
    """Hard-link each image into the dataset (never a symlinked folder); copy where links fail."""
    source, target = str(source_dir), str(target_dir)
    can_link = True
    for name in file_names:
        src, dst = f"{source}/{name}", f"{target}/{name}"
        if can_link:
            try:
                os.link(src, dst)
                continue
            except OSError as error:
                if error.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                    raise
                can_link = False  # another file system, or links not allowed: copy from here on
        shutil.copyfile(src, dst)
