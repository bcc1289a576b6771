"""How a TPU-MLIR tool runs: where the tools come from (a Python 3.10 virtual environment, a
docker image, or the conda environment Snakemake made under --sdm conda; the tools need Python
3.10 exactly), which of those to use, and the command line of a tool in each (Runner).
"""

import functools
import glob
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from posepipe.infra import shared_env
from posepipe.infra.cpus import own_cpu
from posepipe.infra.errors import PosepipeError
from posepipe.tpu_mlir.outputs import parse_similarity

log = logging.getLogger("posepipe.tpu_mlir.env")

# The glibc that the tpu_mlir wheel bundles (Ubuntu 22.04's) breaks every tool on a newer host.
BUNDLED_GLIBC = ("libc.so.6", "libm.so.6", "libpthread.so.0")


def find_python310(configured: str) -> str | None:
    """The configured interpreter if it runs and is 3.10; else a pyenv 3.10 (these machines have one).
    A pyenv shim is not run: it starts pyenv (about 0.4 s, on every DAG build that asks) to pick
    one of the versions searched here directly."""
    pyenv_root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    configured = shutil.which(configured) or configured
    candidates = [] if Path(configured).parent == Path(pyenv_root, "shims") else [configured]
    candidates += sorted(glob.glob(f"{pyenv_root}/versions/3.10*/bin/python3.10"), reverse=True)
    for candidate in candidates:
        try:
            version = subprocess.run(
                [candidate, "-c", "import sys; print(sys.version_info[:2] == (3, 10))"],
                capture_output=True,
                text=True,
                timeout=20,
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if version.returncode == 0 and version.stdout.strip() == "True":
            return candidate
    return None


def environment_key(tpu_mlir_version: str, requirements: str, extra: str = "") -> str:
    """Short hash naming a built environment: a change of any pin gives a new one."""
    return hashlib.sha256(f"{tpu_mlir_version}\n{requirements}\n{extra}".encode()).hexdigest()[:16]


def build_venv(python: str, venv_dir: Path, tpu_mlir_version: str, requirements_file: Path, output=None) -> None:
    """Create the environment (about 7 GB with torch) in the new folder `venv_dir`, install the
    pins, drop the bundled glibc, and check that a tool starts. The tools' output goes to the
    open file `output` (default: this process's)."""
    venv_dir = Path(venv_dir)
    quiet = {"stdout": output, "stderr": subprocess.STDOUT} if output else {}
    subprocess.run([python, "-m", "venv", str(venv_dir)], check=True, **quiet)
    pip = [str(venv_dir / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    install = [*pip, "install", f"tpu_mlir[onnx]=={tpu_mlir_version}", "-r", str(requirements_file)]
    if subprocess.run(install, **quiet).returncode != 0:
        raise PosepipeError(f"{venv_dir}: pip install of tpu_mlir {tpu_mlir_version} failed; see the log")
    package = subprocess.run(
        [str(venv_dir / "bin" / "python"), "-c", "import importlib.util as u; print(u.find_spec('tpu_mlir').origin)"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    third_party = Path(package).parent / "lib" / "third_party"
    for name in BUNDLED_GLIBC:
        (third_party / name).unlink(missing_ok=True)
    check = subprocess.run(
        [str(venv_dir / "bin" / "model_transform.py"), "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{venv_dir / 'bin'}{os.pathsep}{os.environ['PATH']}"},
    )
    if check.returncode != 0:
        raise PosepipeError(f"{venv_dir}: model_transform.py does not start: {check.stderr.strip()[-300:]}")


def ensure_venv(
    *, python_setting: str, venv: Path, tpu_mlir_version: str, requirements_file: Path, log_file: Path, ready: Path
) -> str:
    """The shared TPU-MLIR environment at `venv`, built when it is not there (shared_env: under
    a lock, published when complete); pip's output goes to `log_file`. Then `ready`, the rule's
    output, is written beside it: outside the environment, since Snakemake creates an output's
    folder before the job and deletes the output before a rerun. Returns a line for the log."""
    venv = Path(venv)

    def build(folder: Path) -> None:
        python = find_python310(python_setting)
        if python is None:
            raise PosepipeError(f"config: quantize: python310: no Python 3.10 at '{python_setting}' nor in pyenv")
        with open(log_file, "a") as output:
            build_venv(python, folder, tpu_mlir_version, requirements_file, output)
        (folder / "posepipe-build.txt").write_text(f"tpu_mlir {tpu_mlir_version} with {python}\n")

    built = shared_env.ensure(venv, build, log.info)
    Path(ready).write_text(f"{venv} -> {os.readlink(venv)}\n")
    return f"{venv}: {'built' if built else 'already built, reused'}"


def ensure_image(tag: str, build: Callable[[], None], lock_root: Path) -> str:
    """The derived TPU-MLIR image, built by `build()` unless present; one build at a time per
    tag on this machine (docker applies the tag only when a build succeeds)."""
    with shared_env.locked(Path(lock_root) / f"image-{tag.replace('/', '_').replace(':', '_')}.lock"):
        if docker_image_present(tag):
            return f"{tag}: already built, reused"
        build()
        return f"{tag}: built"


def docker_answers() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def docker_image_present(tag: str) -> bool:
    try:
        return subprocess.run(["docker", "image", "inspect", tag], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def choose_runner(configured: str, python310: str, base_image: str, image_tag: str, under_conda: bool) -> str:
    """`auto`: docker when a daemon answers and the image is there or buildable (its base is
    present), else a Python 3.10 environment, else the rule's conda env under --sdm conda."""
    if configured != "auto":
        return configured
    if docker_answers() and (docker_image_present(image_tag) or docker_image_present(base_image)):
        return "docker"
    if find_python310(python310):
        return "venv"
    if under_conda:
        return "conda"
    raise PosepipeError(
        "quantize: no TPU-MLIR here: start a docker daemon with the sophgo/tpuc_dev image, or install "
        "Python 3.10 (quantize.python310), or run with --sdm conda (envs/tpu-mlir.yaml)"
    )


@dataclass
class RunnerChoice:
    """A run's TPU-MLIR runner, chosen the first time a job asks (a DAG that quantizes nothing
    never probes docker), where its tools are, and what it needs built first (a rule's output)."""

    configured: str  # config quantize.runner
    python310: str
    base_image: str
    image: str  # the tag rule tpu_mlir_image builds
    venv: str  # the folder rule tpu_mlir_venv builds
    under_conda: bool
    ready: dict[str, str]  # runner -> the file that says its environment is built

    @functools.cached_property
    def kind(self) -> str:
        return choose_runner(self.configured, self.python310, self.base_image, self.image, self.under_conda)

    def location(self) -> str:
        return {"venv": self.venv, "docker": self.image, "conda": ""}[self.kind]

    def prerequisite(self) -> str | list:
        return self.ready.get(self.kind, [])


# TPU-MLIR's layer-group pass orders some independent weight loads by their heap address, so the
# cvimodel's bytes follow the tool's memory layout (docs/reproducibility.md). Two things set that
# layout: address randomization, and the number of environment variables the tool starts with
# (measured on the layer-group step alone: 7, 42 or 82 variables give one order, 2, 4, 12 or 22
# another, whatever their names and lengths). Every tool therefore starts with
# the same few variables, whatever the caller's environment and route (venv, conda, docker), and
# under `setarch -R` (inside containers too, where SECCOMP_PROFILE allows that one personality). A
# host that refuses the personality still runs the tool; its output then starts with
# RANDOMIZED_ADDRESSES.
RANDOMIZED_ADDRESSES = "posepipe: address randomization could not be turned off for TPU-MLIR"
# OpenMP threads a tool takes unless the caller sets OMP_NUM_THREADS
TOOL_THREADS = "2"
# what a tool starts with: each variable as the shell expands it (the caller's value, or a default)
TOOL_VARIABLES = {
    "PATH": "$PATH",
    "HOME": "$HOME",
    "TMPDIR": "${TMPDIR:-/tmp}",
    "OMP_NUM_THREADS": "$OMP_NUM_THREADS",  # the caller's, or Runner's TOOL_THREADS
    "LC_ALL": "C.UTF-8",
}
_TOOL_SHELL = (
    'mode="$1"; shift; '
    'if [ "$mode" = fixed ]; then arch="$(uname -m)"; '
    'if setarch "$arch" -R true 2> /dev/null; then set -- setarch "$arch" -R "$@"; '
    f'else echo "{RANDOMIZED_ADDRESSES}" >&2; fi; fi; '
    "exec env -i " + " ".join(f'{name}="{value}"' for name, value in TOOL_VARIABLES.items()) + ' "$@"'
)
# docker's default seccomp profile, plus personality(ADDR_NO_RANDOMIZE) alone
SECCOMP_PROFILE = Path(__file__).with_name("seccomp.json")
_warned_randomized = False


def as_tool(argv: list[str], fixed_addresses: bool = True) -> list[str]:
    """`argv` run by a POSIX shell with only TOOL_VARIABLES set and, where the host allows it,
    address randomization off."""
    return ["sh", "-c", _TOOL_SHELL, "posepipe-tpu-mlir", "fixed" if fixed_addresses else "randomized", *argv]


def warn_if_randomized(output: str) -> None:
    """One warning per process when a tool ran with randomized addresses: its bytes may vary."""
    global _warned_randomized
    if RANDOMIZED_ADDRESSES in output and not _warned_randomized:
        _warned_randomized = True
        log.warning(
            "%s (setarch -R refused here): the cvimodel's bytes may vary from build to build; the one shipped "
            "is still the one scored, and provenance.json holds its sha256",
            RANDOMIZED_ADDRESSES,
        )


@dataclass
class Runner:
    """How the TPU-MLIR tools run: `venv` or `conda` (a Python 3.10 environment), or `docker`."""

    kind: str
    location: str  # the environment's folder, or the image tag
    fixed_addresses: bool = True  # False only to measure what randomization does (bench/deploy_determinism.py)

    @classmethod
    def for_rule(cls, kind: str, location: str) -> "Runner":
        """The runner as a rule's params name it; under --sdm conda the tools are in the rule's
        own environment, the running interpreter's."""
        return cls(kind, location or str(Path(sys.executable).parent.parent))

    def command(self, args: list[str], work_dir: Path) -> tuple[list[str], dict]:
        env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", TOOL_THREADS)}
        if self.kind in ("venv", "conda"):
            bin_dir = Path(self.location) / "bin"
            # the tools start each other by name: the environment's bin comes first on PATH
            env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
            return as_tool([str(bin_dir / args[0]), *args[1:]], self.fixed_addresses), env
        if self.kind == "docker":
            # inputs are copied into the work folder first, so it is the one mount
            mounts = [f"--volume={Path(work_dir).resolve()}:/work"]
            argv = [
                "docker", "run", "--rm", "--network", "none", "--user", f"{os.getuid()}:{os.getgid()}",
                "--security-opt", f"seccomp={SECCOMP_PROFILE}",
                "--env", f"OMP_NUM_THREADS={env['OMP_NUM_THREADS']}", "--env", "HOME=/work",
                *mounts, "--workdir", "/work", self.location, *as_tool(args, self.fixed_addresses),
            ]  # fmt: skip
            return argv, {**os.environ}
        raise PosepipeError(f"unknown TPU-MLIR runner '{self.kind}'")

    def run(self, args: list[str], work_dir: Path, cpu: int | None = None) -> subprocess.CompletedProcess:
        """One tool in `work_dir`, its output captured as text (bytes that are not UTF-8, which
        the tools print at times, replaced rather than failing the job); on `cpu` alone if given."""
        argv, env = self.command(args, work_dir)
        confine = None if cpu is None else functools.partial(os.sched_setaffinity, 0, {cpu})
        result = subprocess.run(
            argv, cwd=work_dir, env=env, capture_output=True, text=True, errors="replace", preexec_fn=confine
        )
        warn_if_randomized(result.stderr)
        return result

    def run_on_own_cpu(self, args: list[str], work_dir: Path) -> subprocess.CompletedProcess:
        """`run` on a CPU no other job holds (cpus.own_cpu), where the tool is this machine's
        process; a container's CPUs are its daemon's to set, and not every daemon can."""
        if self.kind == "docker":
            return self.run(args, work_dir)
        with own_cpu() as cpu:
            return self.run(args, work_dir, cpu)


def run_tool(runner: Runner, args: list[str], work_dir: Path, log_file: Path) -> tuple[str, float]:
    """Run one tool in `work_dir`; its whole output goes to `log_file`. Returns (output, seconds)."""
    log.info("running %s", " ".join(args[:1] + [a if " " not in a else repr(a) for a in args[1:]]))
    began = time.perf_counter()
    result = runner.run(args, work_dir)
    seconds = time.perf_counter() - began
    output = result.stdout + result.stderr
    log_file.write_text(output)
    if result.returncode != 0:
        failed = [b for b in parse_similarity(output) if not b["passed"]]
        if failed:
            worst = failed[0]
            raise ToleranceError(
                f"{args[0]}: tensor {worst['tensor']} is {worst['verdict']}: cosine {worst.get('cosine')}, "
                f"euclidean {worst.get('euclidean')} (tolerance {args[args.index('--tolerance') + 1]}); "
                f"see {log_file}"
            )
        last = [line for line in output.strip().splitlines() if line.strip()][-1:] or ["(no output)"]
        raise PosepipeError(f"{args[0]} failed (exit {result.returncode}): {last[0][:300]}; see {log_file}")
    log.info("%s took %.1f s", args[0], seconds)
    return output, seconds


class ToleranceError(PosepipeError):
    """A similarity under its tolerance: the quantized model is not close enough to the float one."""
