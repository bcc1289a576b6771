"""The real parts some tests need (docker, Slurm, Chromium, the shared photos, Graphviz, a root
for the real MaixPy): a test without its part skips with the reason in a user's clone, and
fails where the run declared the part provided (POSEPIPE_PROVIDED_PARTS, which .ci/run sets),
so that CI cannot stay green with a route untested because a service did not start."""

import functools
import os
import shutil
import subprocess

import pytest

from support.paths import COCO_REAL

DECLARED = "POSEPIPE_PROVIDED_PARTS"


def _docker_answers() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=60).returncode == 0


# a command that runs the rest in a network namespace of its own: no interface but a loopback
# that is down, so that no process under it, whatever its environment, reaches anything
NO_NETWORK = ["unshare", "--net", "--"] if os.geteuid() == 0 else ["unshare", "--map-root-user", "--net", "--"]


@functools.cache
def _namespaces_work() -> bool:
    return bool(shutil.which("unshare")) and subprocess.run([*NO_NETWORK, "true"], capture_output=True).returncode == 0


# part -> (whether it is here, what a user does without it)
PARTS = {
    "docker": (
        lambda: _docker_answers() and bool(shutil.which("debootstrap")),
        "no docker daemon answers, or no debootstrap for the stand-in image: "
        "`bash tests/support/docker/local-docker.sh start` (Debian docker.io, debootstrap) starts one",
    ),
    "slurm": (
        lambda: all(shutil.which(tool) for tool in ("sinfo", "sbatch", "slurmctld", "munged")),
        "needs Slurm: Debian packages slurm-wlm and munge (tests/support/slurm/local-slurm.sh starts one)",
    ),
    "chromium": (lambda: bool(shutil.which("chromium")), "needs Debian's chromium (apt install chromium)"),
    "shared-photos": (
        lambda: (COCO_REAL / "test_coco.json").is_file(),
        f"needs the shared real COCO photos at {COCO_REAL} (present in CI, absent in a user's clone)",
    ),
    "graphviz": (lambda: bool(shutil.which("dot")), "needs Graphviz's dot (apt install graphviz)"),
    "maixpy-root": (
        lambda: os.geteuid() == 0 and all(shutil.which(tool) for tool in ("debootstrap", "unshare", "chroot")),
        "needs root (chroot, mounts) and debootstrap, to build the Debian 13 root the real MaixPy imports in",
    ),
    "conda": (lambda: bool(shutil.which("conda")), "no conda on this machine: --sdm conda cannot even plan"),
    "network-namespace": (
        _namespaces_work,
        "needs `unshare --net` (root, or unprivileged user namespaces) to run the offline tests without a network",
    ),
}


def declared() -> set[str]:
    return set(os.environ.get(DECLARED, "").split())


def here(part: str) -> bool:
    return PARTS[part][0]()


def require(part: str) -> None:
    """Nothing when `part` is here; else a skip with the reason, or a failure where it was declared provided."""
    if here(part):
        return
    reason = PARTS[part][1]
    if part in declared():
        pytest.fail(f"{part} is declared provided ({DECLARED}) but missing: {reason}", pytrace=False)
    pytest.skip(reason)
