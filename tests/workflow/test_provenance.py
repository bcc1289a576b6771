"""provenance.json (posepipe.packaging.provenance): what a shipped model was made from and with, on a
real build of the whole chain."""

import hashlib
import json
import subprocess
import zipfile
from pathlib import Path

from posepipe.infra.schema import defaults
from support.paths import POSEPIPE_VERSION, REPO

TPU_MLIR_VERSION = defaults("quantize")["tpu_mlir_version"]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_provenance_records_sources_artifacts_settings_and_software(built_twice):
    workdir = built_twice[0]
    record = json.loads((workdir / "results" / "tiny" / "provenance.json").read_text())
    sources = record["inputs"]
    assert sources["train_json"] == {
        "path": "results/demo/annotations/train.json",
        "sha256": sha256(workdir / "results/demo/annotations/train.json"),
    }
    assert sources["val_images"]["files"] == 4 and len(sources["val_images"]["sha256"]) == 64
    artifacts = record["artifacts"]
    for key, path in (("weights", "results/tiny/train/best.pt"), ("cvimodel", "results/tiny/tiny.cvimodel")):
        assert artifacts[key] == {"path": path, "sha256": sha256(workdir / path)}
    assert artifacts["dataset"]["files"] == 1 + 12 + 12  # data.yaml, labels, image links (no caches)
    assert record["dataset"]["flip_idx_source"] == "derived" and record["dataset"]["flip_idx"][:3] == [0, 2, 1]
    assert record["dataset"]["splits"]["train"]["images"] == 8
    assert set(record["training_machine"]) == {"device", "cpu_model", "torch_cpu_capability", "torch_threads", "cuda"}
    assert record["settings"]["model"]["epochs"] == 1 and record["settings"]["demo"]["train_images"] == 8
    assert record["settings"]["quantize"]["deploy_tolerance"] == [0.5, 0.1]
    software = record["software"]
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert software["workflow"]["commit"] == head and isinstance(software["workflow"]["dirty"], bool)
    assert software["posepipe"] == POSEPIPE_VERSION
    assert software["packages"]["ultralytics"] == "8.4.190" and software["packages"]["torch"] == "2.14.1"
    assert software["tpu_mlir"]["version"] == TPU_MLIR_VERSION and software["tpu_mlir"]["runner"]["kind"] == "venv"
    with zipfile.ZipFile(workdir / "results" / "tiny_maixcam.zip") as archive:
        assert archive.read("provenance.json") == (workdir / "results" / "tiny" / "provenance.json").read_bytes()
