"""Environments shared by every clone, CI run and Slurm job on a machine (the main venv, the
TPU-MLIR venv): built once under a lock, into a folder of their own, published by one rename.

An environment is used through a symlink, `<root>/<name>` -> `<name>.build-<id>`, created only
after the build finished and passed its check. So a reader finds a complete environment or
none; a second builder waits on the lock (flock(2): the kernel drops it when its holder dies,
so a killed build never blocks the next) and then uses the first one's result; a build that was
killed leaves a folder that no link points to, removed by the next build. The folder is never
moved once built: virtual environments hold their own absolute path.

Standard library only: the Makefile runs it with the system Python before any venv exists:
    python3 shared_env.py LINK -- COMMAND ...   ({} in COMMAND is the folder to build into)
"""

import fcntl
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def default_root() -> Path:
    """Where shared environments live unless configured: $POSEPIPE_VENV_ROOT or ~/.cache/posepipe."""
    return Path(os.environ.get("POSEPIPE_VENV_ROOT") or "~/.cache/posepipe").expanduser()


@contextmanager
def locked(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive flock on `lock_file` (created if needed) for the block."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def is_published(link: Path) -> bool:
    return link.is_symlink() and link.is_dir()


def ensure(link: Path, build: Callable[[Path], None], say: Callable[[str], None] = print) -> bool:
    """The environment at `link`, built by `build(folder)` when it is not there yet (`build`
    raises when the result fails its check). Returns whether this call built it."""
    link = Path(link)
    if is_published(link):
        return False
    with locked(link.with_name(f"{link.name}.lock")):
        if is_published(link):
            say(f"{link}: built by another run while this one waited")
            return False
        for leftover in link.parent.glob(f"{link.name}.build-*"):  # a killed build's, or a dangling link's
            say(f"{link}: removing {leftover.name}, left by an unfinished build")
            _remove(leftover)
        if link.exists() or link.is_symlink():  # a dangling link, or a folder of an older layout
            say(f"{link}: not a published environment: rebuilding it")
            _remove(link)
        folder = link.with_name(f"{link.name}.build-{uuid.uuid4().hex[:12]}")
        try:
            build(folder)
            staged = link.with_name(f"{folder.name}.link")
            os.symlink(folder.name, staged)
            os.replace(staged, link)  # atomic: readers see no environment, then the whole one
        except BaseException:
            _remove(folder)
            raise
    return True


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def _main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    link, command = Path(argv[0]).expanduser(), argv[2:]

    def build(folder: Path) -> None:
        subprocess.run([part.replace("{}", str(folder)) for part in command], check=True)

    try:
        ensure(link, build, lambda message: print(message, file=sys.stderr))
    except subprocess.CalledProcessError as error:
        print(f"{link}: the build failed (exit {error.returncode}); nothing was published", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
