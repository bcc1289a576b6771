"""Image files: checked as Ultralytics' loader will read them, then hard-linked into a dataset.

The checks are those whose failure would make training drop an image silently or change it:
a regular file (a FIFO would hang the job, a dangling symlink is no image), the declared size
in the header, a complete JPEG or PNG (Ultralytics re-encodes a JPEG that does not end with
its end-of-image marker). Only the first bytes and the last ones are read.
"""

import errno
import os
import shutil
import stat
import struct
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from posepipe.errors import PosepipeError

# The suffixes Ultralytics' loader takes (ultralytics.data.utils.IMG_FORMATS; tests/test_convert.py
# checks the copy): an image with another suffix is never loaded.
IMG_FORMATS = frozenset(
    {"avif", "bmp", "dng", "heic", "heif", "jp2", "jpeg", "jpg", "mpo", "png", "tif", "tiff", "webp"}
)
MIN_SIDE = 10  # Ultralytics' check_image drops smaller images

_HEAD_BYTES = 8192  # holds the frame header of nearly every JPEG (large EXIF blocks go to PIL)
_TAIL_BYTES = 1024  # where a JPEG's end-of-image marker is looked for when bytes follow it
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_JPEG_END = b"\xff\xd9"
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_FILE_KINDS = {stat.S_IFIFO: "a FIFO", stat.S_IFDIR: "a folder", stat.S_IFSOCK: "a socket"}


@dataclass(frozen=True)
class Source:
    """Where an image's bytes come from when that is not the plain file: the target of a
    symlink, and how many bytes to keep (a JPEG with bytes after its end-of-image marker)."""

    path: str
    length: int | None = None


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


def _jpeg_length(fd: int, size: int) -> int | None:
    """Bytes up to the end-of-image marker: the whole file, fewer when bytes follow the marker,
    None when there is no marker at the end (a file cut short)."""
    if os.pread(fd, 2, max(0, size - 2)) == _JPEG_END:
        return size
    start = max(0, size - _TAIL_BYTES)
    found = os.pread(fd, size - start, start).rfind(_JPEG_END)
    return None if found < 0 else start + found + 2


def _image_file(path: str) -> tuple[tuple[int, int], Source | None]:
    """(width, height) of a checked image file, and its Source where it is not the plain file.

    Raw file descriptors and few system calls: this runs once per image at COCO scale. The
    file is opened without following a symlink and without blocking (a FIFO would wait for a
    writer), and refused unless it is a regular file."""
    source = None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError as error:
        if error.errno != errno.ELOOP:  # ELOOP: the last component is a symlink
            raise
        real = os.path.realpath(path)
        if not os.path.exists(real):
            raise ValueError(f"a symlink to '{os.readlink(path)}', which does not exist") from None
        source = Source(real)
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"not a regular file but {_FILE_KINDS.get(stat.S_IFMT(info.st_mode), 'a device')}")
        head = os.read(fd, _HEAD_BYTES)
        if head[:2] == b"\xff\xd8":
            length = _jpeg_length(fd, info.st_size)
            if length is None:
                raise ValueError("a JPEG cut short (no end-of-image marker)")
            if length != info.st_size:
                source = Source(source.path if source else path, length)
            size = _jpeg_size(head)
            if size:
                return size, source
        elif head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
            if os.pread(fd, len(_PNG_END), max(0, info.st_size - len(_PNG_END))) != _PNG_END:
                raise ValueError("a PNG cut short (no IEND chunk at its end)")
            return struct.unpack(">II", head[16:24]), source
    finally:
        os.close(fd)
    with Image.open(source.path if source else path) as image:  # other formats, or a frame header further in
        if image.format.lower() not in IMG_FORMATS | {"jpeg2000"}:
            raise ValueError(f"{image.format} is not an image format Ultralytics trains on")
        return image.size, source


def check_files(
    annotations: Path, image_dir: Path, file_names: list[str], sizes: list[tuple[int, int]]
) -> dict[int, Source]:
    """Every image is a complete, readable regular file with the width and height its JSON
    record declares. Returns the images to take from elsewhere than their path, by index."""
    prefix = str(image_dir)
    sources = {}
    for index, (file_name, declared) in enumerate(zip(file_names, sizes)):
        try:
            actual, source = _image_file(f"{prefix}/{file_name}")
        except FileNotFoundError:
            raise PosepipeError(f"{annotations}: image '{file_name}': file missing in {image_dir}") from None
        except Exception as error:  # any decoder failure (PIL plugins raise their own types) means unreadable
            raise PosepipeError(f"{annotations}: image '{file_name}': unreadable ({error})") from None
        if tuple(actual) != tuple(declared):
            raise PosepipeError(
                f"{annotations}: image '{file_name}': the JSON says {declared[0]}x{declared[1]}, "
                f"the file is {actual[0]}x{actual[1]}"
            )
        if source:
            sources[index] = source
    return sources


def check_and_link(
    annotations: Path,
    image_dir: Path,
    file_names: list[str],
    sizes: list[tuple[int, int]],
    target_dir: Path,
    target_names: list[str],
) -> None:
    """check_files, then every image linked into `target_dir` under its target name."""
    sources = check_files(annotations, image_dir, file_names, sizes)
    for sub in sorted({name.rpartition("/")[0] for name in target_names}):
        (Path(target_dir) / sub).mkdir(parents=True, exist_ok=True)
    link_all(image_dir, target_dir, file_names, target_names, sources)


def link_all(
    source_dir: Path, target_dir: Path, file_names: list[str], target_names: list[str], sources: dict[int, Source]
) -> None:
    """Hard-link each image into the dataset (never a symlink); copy where links fail, and
    copy the kept bytes of an image that must be cut."""
    source, target = str(source_dir), str(target_dir)
    can_link = True
    for index, (name, target_name) in enumerate(zip(file_names, target_names)):
        special = sources.get(index)
        src, dst = special.path if special else f"{source}/{name}", f"{target}/{target_name}"
        if special and special.length is not None:
            with open(src, "rb") as f_in, open(dst, "wb") as f_out:
                f_out.write(f_in.read(special.length))
            continue
        if can_link:
            try:
                os.link(src, dst)
                continue
            except OSError as error:
                if error.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                    raise
                can_link = False  # another file system, or links not allowed: copy from here on
        shutil.copyfile(src, dst)


def read_rgb(path: Path):
    """An image as the device pipeline sees it: decoded by OpenCV, in RGB order."""
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise PosepipeError(f"{path}: cannot read the image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
