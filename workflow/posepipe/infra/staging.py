"""Outputs that appear whole or not at all: written beside their place and moved into it in one
rename when complete, so a failed or killed job leaves nothing a later run could take as done."""

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


@contextmanager
def staged(destination: Path) -> Iterator[Path]:
    """A path beside `destination` (a file or a folder: the block makes it) that replaces
    `destination` when the block completes, and is removed when it fails."""
    destination = Path(destination)
    staging = destination.with_name(f".{destination.name}.partial")
    _remove(staging)
    try:
        yield staging
        if destination.is_dir() and not destination.is_symlink():
            shutil.rmtree(destination)  # os.replace renames over a file, not over a folder
        os.replace(staging, destination)
    except BaseException:
        _remove(staging)
        raise
