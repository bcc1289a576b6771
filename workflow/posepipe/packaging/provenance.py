"""provenance.json: what a packaged model was built from and with, so that the file on the device
can be traced to its data, settings, code and tools. No time stamps: the same build gives the
same record, byte for byte."""

import hashlib
import importlib.metadata
import json
import subprocess
from pathlib import Path

from posepipe.dataset.data_yaml import read_data_yaml
from posepipe.infra.staging import staged

# The packages whose versions decide the bytes of an artifact.
PACKAGES = ("snakemake", "ultralytics", "torch", "torchvision", "onnx", "onnxruntime", "onnxsim", "numpy", "pyyaml")
CHUNK = 1 << 20
# Snakemake's marker in directory outputs, and the label caches Ultralytics writes beside a
# dataset's labels when it reads them: bookkeeping, not content
NOT_CONTENT = (".snakemake_timestamp", ".cache")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def describe(path: Path) -> dict:
    """A file's sha256; for a folder, one sha256 over its files' relative names and sha256s."""
    path = Path(path)
    if path.is_file():
        return {"path": str(path), "sha256": file_sha256(path)}
    files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.endswith(NOT_CONTENT))
    digest = hashlib.sha256()
    for file in files:
        digest.update(f"{file.relative_to(path).as_posix()}\0{file_sha256(file)}\n".encode())
    return {"path": str(path), "files": len(files), "sha256": digest.hexdigest()}


def git_state(repo_dir: Path) -> dict | None:
    """The checkout's commit and whether files differ from it; None outside a git checkout."""

    def git(*args):
        return subprocess.run(["git", "-C", str(repo_dir), *args], capture_output=True, text=True, timeout=30)

    try:
        commit = git("rev-parse", "HEAD")
    except (OSError, subprocess.SubprocessError):
        return None
    if commit.returncode != 0:
        return None
    return {"commit": commit.stdout.strip(), "dirty": bool(git("status", "--porcelain").stdout.strip())}


def package_versions() -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def provenance(
    *,
    model: str,
    inputs: dict,
    artifacts: dict,
    settings: dict,
    quantize_report: Path,
    repo_dir: Path,
    posepipe_version: str,
):
    report = json.loads(Path(quantize_report).read_text())
    data = read_data_yaml(artifacts["dataset"])
    artifacts = dict(artifacts)
    training_machine = json.loads(Path(artifacts.pop("machine")).read_text())
    return {
        "model": model,
        # what the conversion decided: the flip permutation and where it came from, the images
        # and instances of each split that training loaded, and how one export was split (with
        # the sha256 of the record of which images went where)
        "dataset": {"flip_idx": data.get("flip_idx"), **data["posepipe"], **_split_record(artifacts["dataset"], data)},
        "inputs": {key: describe(path) for key, path in sorted(inputs.items())},
        "artifacts": {key: describe(path) for key, path in sorted(artifacts.items())},
        "settings": settings,
        "software": {
            # the release, and the checkout it ran from (the user's module checkout or clone)
            "posepipe": posepipe_version,
            "workflow": git_state(repo_dir),
            "packages": package_versions(),
            "tpu_mlir": {"version": report["tpu_mlir_version"], "runner": report["runner"]},
        },
        # which quantization recipe the shipped cvimodel is, and every candidate it was chosen from
        "quantization": {key: report[key] for key in ("chosen", "gate", "candidates")},
        # training's floats are byte-identical only on the same kind of processor and threads
        "training_machine": training_machine,
    }


def _split_record(dataset_dir: Path, data: dict) -> dict:
    if "split" not in data["posepipe"]:
        return {}
    return {"split_record": describe(Path(dataset_dir) / data["posepipe"]["split"]["record"])}


def write_provenance(record: dict, destination: Path) -> None:
    with staged(destination) as partial:
        partial.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
