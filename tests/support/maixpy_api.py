"""The MaixPy API as the device has it, to check the generated app against: the pinned
release's wheel (envs/maixpy-api-requirements.txt) ships `.pyi` stubs of every module, the same
as the device wheel's. Its `_maix.so` does not import on this machine (it needs glibc 2.38:
../shared/REFERENCE.md section 5), so the stubs are extracted into a shared environment with
mypy beside them, built once per pin set under a lock (posepipe.infra.shared_env). Beside the
pinned release's stubs are those of the oldest release each app says it runs on
(posepipe.packaging.app.OLDEST_MAIXPY) and of the release before it."""

import keyword
import re
import subprocess
import sys
import zipfile
from pathlib import Path

from posepipe.infra import shared_env
from posepipe.packaging.app import OLDEST_MAIXPY
from posepipe.tpu_mlir.env import environment_key

from support.paths import REPO

REQUIREMENTS = REPO / "envs" / "maixpy-api-requirements.txt"
# two stubs name a parameter by a Python keyword (example.pyi `in`, pipeline.pyi `from`), which
# no parser takes: such a name gets a trailing `_`
_KEYWORD_PARAMETER = re.compile(r"(?<=[(,] )(%s)(?=:)|(?<=\()(%s)(?=:)" % (("|".join(keyword.kwlist),) * 2))
MYPY_INI = "[mypy]\nmypy_path = {stubs}\n[mypy-maix.*]\nignore_errors = True\n"


def pins() -> list[str]:
    return [line for line in REQUIREMENTS.read_text().splitlines() if line and not line.startswith("#")]


def maixpy_release() -> str:
    return next(pin for pin in pins() if pin.startswith("maixpy=="))


# the release before each oldest one: its stubs show why the app cannot run sooner
PREVIOUS_RELEASE = {"4.5.0": "4.4.22", "4.7.0": "4.6.0"}


def pinned_version() -> str:
    return maixpy_release().removeprefix("maixpy==")


def releases() -> list[str]:
    """Every release whose stubs the environment holds."""
    oldest = set(OLDEST_MAIXPY.values())
    return sorted({pinned_version(), *oldest, *(PREVIOUS_RELEASE[v] for v in oldest)})


def mended(stub: str) -> str:
    return _KEYWORD_PARAMETER.sub(lambda match: f"{match.group(0)}_", stub)


def extract_stubs(wheel: Path, stubs: Path) -> list[str]:
    """Every `.pyi` of the wheel under `stubs`, mended where needed; returns the mended ones."""
    changed = []
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if name.startswith("maix/") and name.endswith(".pyi"):
                text = archive.read(name).decode()
                (stubs / name).parent.mkdir(parents=True, exist_ok=True)
                (stubs / name).write_text(fixed := mended(text))
                if fixed != text:
                    changed.append(name)
    return changed


def _build(folder: Path) -> None:
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True, capture_output=True)
    pip = [str(folder / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    tools = [pin for pin in pins() if pin != maixpy_release()]
    subprocess.run([*pip, "install", *tools], check=True, capture_output=True)
    # the x86_64 wheels of CPython 3.12 (none is built for 3.11); only their stubs are read
    download = [*pip, "download", "--no-deps", "--only-binary=:all:", "--python-version", "3.12"]
    for version in releases():
        release = folder / "releases" / version
        subprocess.run([*download, "-d", str(release / "wheel"), f"maixpy=={version}"], check=True, capture_output=True)
        wheel = next((release / "wheel").glob("*.whl"))
        mended_names = extract_stubs(wheel, release / "stubs")
        (release / "mended.txt").write_text("\n".join(mended_names) + "\n")
        (release / "mypy.ini").write_text(MYPY_INI.format(stubs=release / "stubs"))


def stub_env() -> Path:
    """The shared environment: `bin/mypy`, and `stubs/maix/`, `mypy.ini`, `mended.txt` under
    `releases/<version>/` for each of releases()."""
    key = environment_key("maixpy-api", REQUIREMENTS.read_text(), " ".join(releases()))
    link = shared_env.default_root() / f"maixpy-api-{key}"
    shared_env.ensure(link, _build, lambda message: None)
    return link


def type_errors(sources: dict[str, str], folder: Path, env: Path, version: str | None = None) -> dict[str, list[str]]:
    """mypy's error lines for each of `sources` (name -> a main.py's text, written to
    `folder/<name>.py`) against the stubs of MaixPy `version` (the pinned one by default), in
    one run of mypy; [] for a source that type-checks."""
    files = {name: folder / f"{name}.py" for name in sources}
    for name, file in files.items():
        file.write_text(sources[name])
    ini = env / "releases" / (version or pinned_version()) / "mypy.ini"
    result = subprocess.run(
        [str(env / "bin" / "mypy"), "--config-file", str(ini), "--cache-dir", "/dev/null", *map(str, files.values())],
        capture_output=True,
        text=True,
        cwd=folder,
    )
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert (result.returncode == 0) == (not errors), result.stdout + result.stderr
    return {name: [line for line in errors if line.startswith(f"{name}.py:")] for name in sources}
