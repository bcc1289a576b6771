"""A CPU of its own for a job's tool. TPU-MLIR's host simulator spreads every operation over
threads of its own; where each core already has a job (one val shard per core, the default),
those threads cost more CPU time than they save (bench/shard_speed.py; its figures are in
docs/stages.md)."""

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Machine-wide, not $TMPDIR: every job of this user on the machine must see the same locks.
LOCK_DIR = Path(f"/tmp/posepipe-cpus-{os.getuid()}")


@contextmanager
def own_cpu(lock_dir: Path = LOCK_DIR) -> Iterator[int | None]:
    """One CPU of this process's set that no other holder on this machine holds, held for the
    block (an flock: the kernel drops it when its holder dies). None when the set has one CPU
    (already confined, as by a Slurm job's cgroup) or another holder has each of them."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        yield None
        return
    lock_dir.mkdir(parents=True, exist_ok=True)
    for cpu in cpus:
        fd = os.open(lock_dir / f"cpu-{cpu}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            yield cpu
        finally:
            os.close(fd)
        return
    yield None
