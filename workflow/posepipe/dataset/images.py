"""Image files: checked as Ultralytics' loader will read them, then hard-linked into a dataset.

The checks are those whose failure would make training drop an image silently or change it:
a regular file (a FIFO would hang the job, a dangling symlink is no image), the declared size
in the header (as stored, or as shown where an EXIF orientation turns the image, which
Ultralytics' imread applies), a complete JPEG or PNG (Ultralytics re-encodes a JPEG that does
not end with its end-of-image marker). Only the first bytes and the last ones are read, but for
formats whose header lies further in.
"""

import errno
import os
import shutil
import stat
import struct
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from posepipe.infra.errors import PosepipeError

# The suffixes Ultralytics' loader takes (ultralytics.data.utils.IMG_FORMATS; tests/unit/dataset/test_convert.py
# checks the copy): an image with another suffix is never loaded.
IMG_FORMATS = frozenset(
    {"avif", "bmp", "dng", "heic", "heif", "jp2", "jpeg", "jpg", "mpo", "png", "tif", "tiff", "webp"}
)
MIN_SIDE = 10  # Ultralytics' check_image drops smaller images


def max_pixels() -> int:
    """The largest image Ultralytics' check_image opens: PIL refuses more than twice its
    decompression-bomb limit (Image.MAX_IMAGE_PIXELS, read when asked: a user may change it)."""
    return 2 * Image.MAX_IMAGE_PIXELS if Image.MAX_IMAGE_PIXELS else 2**63 - 1


ORIENTATION_TAG = 0x0112
# EXIF orientation -> how a point (x, y) of the stored pixels (w x h) lands in the image as shown,
# which is how Ultralytics reads a JPEG, PNG or WebP (cv2.imdecode applies the tag); 5-8 swap
# the sides.
ORIENTATIONS = {
    1: lambda x, y, w, h: (x, y),
    2: lambda x, y, w, h: (w - x, y),
    3: lambda x, y, w, h: (w - x, h - y),
    4: lambda x, y, w, h: (x, h - y),
    5: lambda x, y, w, h: (y, x),
    6: lambda x, y, w, h: (h - y, x),
    7: lambda x, y, w, h: (h - y, w - x),
    8: lambda x, y, w, h: (y, w - x),
}

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


def _jpeg_header(head: bytes) -> tuple[tuple[int, int], int] | None:
    """Walk the JPEG markers in `head` to the frame header: the stored (width, height) and the
    EXIF orientation (1 without one); None when the frame header is not within `head`."""
    position, orientation = 2, 1
    while position + 9 <= len(head):
        if head[position] != 0xFF:
            return None
        marker = head[position + 1]
        if marker == 0xFF:  # fill byte before a marker
            position += 1
            continue
        if marker in _JPEG_SOF:
            height, width = struct.unpack_from(">HH", head, position + 5)
            return (width, height), orientation
        (length,) = struct.unpack_from(">H", head, position + 2)
        if marker == 0xE1 and head[position + 4 : position + 10] == b"Exif\0\0":
            orientation = _exif_orientation(head[position + 10 : position + 2 + length])
        position += 2 + length
    return None


def _exif_orientation(tiff: bytes) -> int:
    """Tag 0x0112 of the first IFD of an EXIF block (a TIFF header and its IFDs); 1 without it."""
    try:
        order = {b"II": "<", b"MM": ">"}[tiff[:2]]
        (ifd,) = struct.unpack_from(f"{order}I", tiff, 4)
        (entries,) = struct.unpack_from(f"{order}H", tiff, ifd)
        for entry in range(ifd + 2, ifd + 2 + 12 * entries, 12):
            tag, kind = struct.unpack_from(f"{order}HH", tiff, entry)
            if tag == ORIENTATION_TAG and kind == 3:  # SHORT, stored in the entry itself
                (value,) = struct.unpack_from(f"{order}H", tiff, entry + 8)
                return value if value in ORIENTATIONS else 1
    except (KeyError, struct.error):  # no TIFF header or a block cut short: no orientation
        pass
    return 1


def _jpeg_length(fd: int, size: int) -> int | None:
    """Bytes up to the end-of-image marker: the whole file, fewer when bytes follow the marker,
    None when there is no marker at the end (a file cut short)."""
    if os.pread(fd, 2, max(0, size - 2)) == _JPEG_END:
        return size
    start = max(0, size - _TAIL_BYTES)
    found = os.pread(fd, size - start, start).rfind(_JPEG_END)
    return None if found < 0 else start + found + 2


def _image_file(path: str) -> tuple[tuple[tuple[int, int], int], Source | None]:
    """((width, height) as stored, EXIF orientation) of a checked image file, and its Source
    where it is not the plain file.

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
            header = _jpeg_header(head)
            if header:
                return header, source
        elif head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
            if os.pread(fd, len(_PNG_END), max(0, info.st_size - len(_PNG_END))) != _PNG_END:
                raise ValueError("a PNG cut short (no IEND chunk at its end)")
            if b"eXIf" not in head:  # an EXIF chunk, which may hold an orientation, goes to PIL
                return (struct.unpack(">II", head[16:24]), 1), source
    finally:
        os.close(fd)
    with Image.open(source.path if source else path) as image:  # other formats, or a frame header further in
        if image.format.lower() not in IMG_FORMATS | {"jpeg2000"}:
            raise ValueError(f"{image.format} is not an image format Ultralytics trains on")
        # cv2.imdecode (Ultralytics' imread) applies the orientation of PNG and WebP files too
        orientation = image.getexif().get(ORIENTATION_TAG, 1)
        if image.format == "TIFF" and orientation != 1:
            # Pillow may report such a TIFF's size turned already: its stored frame cannot be told
            raise ValueError(f"a TIFF with EXIF orientation {orientation}: save it upright, without the tag")
        return (image.size, orientation if orientation in ORIENTATIONS else 1), source


def check_files(
    annotations: Path, image_dir: Path, file_names: list[str], sizes: list[tuple[int, int]], frame: str | None = None
) -> tuple[dict[int, Source], dict[int, tuple[int, str]]]:
    """Every image is a complete, readable regular file with the width and height its JSON
    record declares, in one of its two frames where it carries an EXIF orientation. Returns
    the images to take from elsewhere than their path, and, for each image with an EXIF
    orientation, the orientation and the frame its annotations are in (annotations_frame)."""
    prefix = str(image_dir)
    sources, oriented = {}, {}
    for index, (file_name, declared) in enumerate(zip(file_names, sizes)):
        try:
            (stored, orientation), source = _image_file(f"{prefix}/{file_name}")
        except FileNotFoundError:
            raise PosepipeError(f"{annotations}: image '{file_name}': file missing in {image_dir}") from None
        except Exception as error:  # any decoder failure (PIL plugins raise their own types) means unreadable
            raise PosepipeError(f"{annotations}: image '{file_name}': unreadable ({error})") from None
        found = annotations_frame(annotations, file_name, tuple(declared), tuple(stored), orientation, frame)
        if orientation != 1:
            oriented[index] = (orientation, found)
        if source:
            sources[index] = source
    return sources, oriented


def annotations_frame(
    annotations: Path, file_name: str, declared: tuple, stored: tuple, orientation: int, frame: str | None
) -> str:
    """Which frame an image's annotations are in: `shown` (the image as a browser and Ultralytics
    show it, its EXIF orientation applied) or `stored` (its pixels as stored, as tools that ignore
    EXIF see them). Told by the declared size where the two differ, else by `frame` (the
    dataset's annotations_frame: displayed or raw); a fault names what would tell it."""
    shown = stored[::-1] if orientation >= 5 else stored
    if orientation == 1:
        frames = {"shown"} if declared == stored else set()
    elif frame is not None:
        wanted = {"displayed": "shown", "raw": "stored"}[frame]
        frames = {wanted} if declared == (shown if wanted == "shown" else stored) else set()
    else:
        frames = {name for name, size in (("shown", shown), ("stored", stored)) if size == declared}
    if len(frames) == 1:
        return frames.pop()
    where = f"{annotations}: image '{file_name}'"
    if frames:
        raise PosepipeError(
            f"{where}: EXIF orientation {orientation} leaves its size {declared[0]}x{declared[1]} the same as "
            "shown and as stored, so the annotations' frame cannot be told: set the dataset's annotations_frame "
            "(displayed: marked on the image as shown; raw: on the stored pixels, by a tool that ignores EXIF)"
        )
    turned = f", {shown[0]}x{shown[1]} as shown (EXIF orientation {orientation})" if orientation != 1 else ""
    asked = f" (annotations_frame: {frame})" if frame and orientation != 1 else ""
    raise PosepipeError(
        f"{where}: the JSON says {declared[0]}x{declared[1]}{asked}, the file is {stored[0]}x{stored[1]}{turned}"
    )


def check_and_link(
    annotations: Path,
    image_dir: Path,
    file_names: list[str],
    sizes: list[tuple[int, int]],
    target_dir: Path,
    target_names: list[str],
    frame: str | None = None,
) -> dict[int, tuple[int, str]]:
    """check_files, then every image linked into `target_dir` under its target name. Returns
    the oriented images' orientation and annotations' frame, by index."""
    sources, oriented = check_files(annotations, image_dir, file_names, sizes, frame)
    for sub in sorted({name.rpartition("/")[0] for name in target_names}):
        (Path(target_dir) / sub).mkdir(parents=True, exist_ok=True)
    link_all(image_dir, target_dir, file_names, target_names, sources)
    return oriented


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
