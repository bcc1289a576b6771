"""Export: a format whose package is missing is named before anything runs, and the ONNX
loses only its time stamp, so the same weights give the same bytes."""

import onnx
import pytest
from posepipe.infra.errors import PosepipeError
from posepipe.training.export import OTHER_FORMATS, export_other, missing_package, strip_time_stamps


def test_a_format_is_ready_when_its_module_imports_and_unknown_formats_are_named():
    assert missing_package("torchscript") is None  # torch is installed
    assert missing_package("no-such-format") == f"an export format ({', '.join(OTHER_FORMATS)})"


def test_exporting_a_format_without_its_package_fails_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setitem(OTHER_FORMATS, "coreml", "no_such_module_here")
    with pytest.raises(
        PosepipeError, match="^export format 'coreml' needs no_such_module_here, which is not installed$"
    ):
        export_other(
            weights=tmp_path / "best.pt", export_format="coreml", destination=tmp_path / "out",
            imgsz=[64, 96], work_dir=tmp_path / "work", config_dir=tmp_path / "settings",
        )  # fmt: skip
    assert not (tmp_path / "out").exists() and not (tmp_path / "work").exists()


def test_only_the_time_stamp_is_stripped_from_the_metadata(tmp_path):
    graph = onnx.helper.make_graph([], "g", [], [])
    model = onnx.helper.make_model(graph)
    for key, value in (("date", "2026-12-06T21:00:00"), ("task", "pose"), ("kpt_shape", "[4, 3]")):
        model.metadata_props.add(key=key, value=value)
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    strip_time_stamps(path)
    kept = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert kept == {"task": "pose", "kpt_shape": "[4, 3]"}
