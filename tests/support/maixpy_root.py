"""A Debian 13 root in which the real MaixPy imports (maixpy/build-root.sh), to run the app in:
shared like the other environments, built once per pin set under a lock (posepipe.infra.
shared_env), and never written by a run: each run mounts its own folder at /mnt/run, and tmpfs
over /tmp and /root, inside a mount namespace of its own (unshare), so that runs side by side
see only their own files."""

import subprocess
from pathlib import Path

from posepipe.infra import shared_env
from posepipe.tpu_mlir.env import environment_key

from support.maixpy_api import maixpy_release

HERE = Path(__file__).resolve().parent
BUILD = HERE / "maixpy" / "build-root.sh"
RUNNER = HERE / "maixpy" / "run_app.py"


def root_env() -> Path:
    """The root, built on first use (about 2 min and 800 MB, from the Debian mirror and PyPI)."""
    key = environment_key("maixpy-root", BUILD.read_text() + (HERE / "debian-mirror.sh").read_text(), maixpy_release())
    link = shared_env.default_root() / f"maixpy-root-{key}"

    def build(folder: Path) -> None:
        result = subprocess.run(
            ["unshare", "--mount", "bash", str(BUILD), str(folder), maixpy_release()], capture_output=True, text=True
        )
        if result.returncode != 0:
            raise RuntimeError(f"{BUILD.name} failed ({result.returncode}):\n{(result.stdout + result.stderr)[-3000:]}")

    shared_env.ensure(link, build, lambda message: None)
    return link


def run_app(root: Path, work: Path, timeout: int = 120) -> subprocess.CompletedProcess:
    """RUNNER on `work/spec.json` in the root, `work` seen there as /mnt/run (the spec's paths
    are the root's: /mnt/run/...)."""
    (work / RUNNER.name).write_bytes(RUNNER.read_bytes())
    script = f"""set -e
mount --bind '{work}' '{root}/mnt/run'
mount -t proc proc '{root}/proc'
mount -t tmpfs tmpfs '{root}/tmp'
mount -t tmpfs tmpfs '{root}/root'
exec chroot '{root}' env -i PATH=/usr/bin:/bin HOME=/root SDL_VIDEODRIVER=dummy \\
    /opt/maixpy/bin/python /mnt/run/{RUNNER.name} /mnt/run/spec.json"""
    return subprocess.run(["unshare", "--mount", "bash", "-c", script], capture_output=True, text=True, timeout=timeout)
