"""The .mud package (posepipe.packaging.package): the file MaixPy loads, its labels, and the zip for the device."""

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from posepipe.infra.errors import PosepipeError
from posepipe.packaging.package import package


@pytest.fixture(scope="module")
def yolo11_pruned(tmp_path_factory, demo_data) -> Path:
    from posepipe.training.prune import prune
    from ultralytics import YOLO

    work = tmp_path_factory.mktemp("yolo11")
    YOLO("yolo11n-pose.yaml").save(str(work / "model.pt"))
    exported = YOLO(str(work / "model.pt")).export(format="onnx", imgsz=[64, 96], opset=17)
    check_image = sorted(demo_data["val"]["images"].glob("*.jpg"))[0]
    prune(
        onnx_path=Path(exported),
        out_onnx=work / "cut.onnx",
        out_json=work / "cut.json",
        check_image=check_image,
        explicit=None,
    )
    return work / "cut.onnx"


def fake_dataset(root: Path, names: list[str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "data.yaml").write_text(yaml.safe_dump({"names": dict(enumerate(names)), "kpt_shape": [17, 3]}))
    return root


def run_package(tmp_path: Path, pruned: Path, names: list[str], pixel_format="rgb", labels=None):
    tmp_path.mkdir(parents=True, exist_ok=True)
    report = tmp_path / "report.json"
    settings = {"pixel_format": pixel_format, "mean": [0, 0, 0], "scale": [1 / 255] * 3}
    report.write_text(json.dumps({"settings": settings}))
    cvimodel = tmp_path / "in.cvimodel"
    cvimodel.write_bytes(np.arange(64, dtype=np.uint8).tobytes())  # package copies it, never reads it
    metrics = tmp_path / "metrics.json"
    metrics.write_text("{}")
    provenance = tmp_path / "provenance.json"
    provenance.write_text("{}")
    outputs = {key: tmp_path / n for key, n in (("mud", "m.mud"), ("cvimodel", "m_int8.cvimodel"),
               ("labels", "m_labels.txt"), ("zip", "m_maixcam.zip"), ("metrics", "m_metrics.json"))}  # fmt: skip
    package(
        cvimodel=cvimodel,
        report_json=report,
        pruned_onnx=pruned,
        pruned_json=pruned.with_suffix(".json"),
        dataset_dir=fake_dataset(tmp_path / "data", names),
        metrics_json=metrics,
        provenance_json=provenance,
        labels_override=labels,
        **{f"out_{key}": path for key, path in outputs.items()},
    )
    return list(outputs.values())


def test_mud_for_a_yolo11_model_with_odd_label_names(yolo11_pruned, tmp_path):
    names = ["hand, left", "hand; right", "tool ($HOME)", "x"]
    mud, _, labels, archive, _ = run_package(tmp_path, yolo11_pruned, names)
    text = mud.read_text()
    assert "model_type = yolo11" in text and "type = pose" in text and "model = m_int8.cvimodel" in text
    assert "labels = m_labels.txt" in text  # a name holds a comma: labels go to a file
    assert labels.read_text().splitlines() == names
    with zipfile.ZipFile(archive) as z:
        assert sorted(z.namelist()) == ["m.mud", "m_int8.cvimodel", "m_labels.txt", "m_metrics.json", "provenance.json"]


def test_the_mud_is_the_file_maixpy_documents(yolo11_pruned, tmp_path):
    """The lines the device reads, written out as MaixPy's docs give them for a YOLO11 pose model
    (RGB, mean 0, scale 1/255), not rebuilt with the function that wrote them."""
    mud, *_ = run_package(tmp_path, yolo11_pruned, ["person"])
    assert mud.read_text() == (
        "[basic]\n"
        "type = cvimodel\n"
        "model = m_int8.cvimodel\n"
        "\n"
        "[extra]\n"
        "model_type = yolo11\n"
        "type = pose\n"
        "input_type = rgb\n"
        "mean = 0, 0, 0\n"
        "scale = 0.00392156862745098, 0.00392156862745098, 0.00392156862745098\n"
        "labels = person\n"
    )


def test_mud_lists_plain_labels_inline(yolo11_pruned, tmp_path):
    mud, *_ = run_package(tmp_path, yolo11_pruned, ["cat", "dog"], pixel_format="bgr")
    assert "labels = cat, dog" in mud.read_text() and "input_type = bgr" in mud.read_text()


def test_configured_labels_replace_the_category_names(yolo11_pruned, tmp_path):
    mud, *_ = run_package(tmp_path / "a", yolo11_pruned, ["cat", "dog"], labels=["Katze", "Hund"])
    assert "labels = Katze, Hund" in mud.read_text()
    with pytest.raises(PosepipeError, match="models: labels: 1 names for the 2 classes of"):
        run_package(tmp_path / "b", yolo11_pruned, ["cat", "dog"], labels=["Katze"])


def test_padded_scores_get_a_label_so_that_the_runtime_counts_them(yolo11_pruned, tmp_path):
    """The runtime takes the class count from the labels; the prune step's zero channel gets one."""
    description = json.loads(yolo11_pruned.with_suffix(".json").read_text())
    (tmp_path / "padded").mkdir()
    padded = tmp_path / "padded" / "cut.onnx"
    padded.write_bytes(yolo11_pruned.read_bytes())
    padded.with_suffix(".json").write_text(json.dumps({**description, "score_padding": 1}))
    mud, _, labels, *_ = run_package(tmp_path / "a", padded, ["a", "b", "c"])
    assert "labels = a, b, c, (padding)" in mud.read_text()
    assert labels.read_text().splitlines() == ["a", "b", "c", "(padding)"]


def test_zip_is_byte_identical_across_builds(yolo11_pruned, tmp_path):
    first = run_package(tmp_path / "a", yolo11_pruned, ["cat", "dog"])[3].read_bytes()
    second = run_package(tmp_path / "b", yolo11_pruned, ["cat", "dog"])[3].read_bytes()
    assert first == second
