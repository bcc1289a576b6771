"""The MaixPy model package: a `.mud` beside its cvimodel, and a zip for the device.

The zip also carries the model's metrics.json (Ultralytics, device-decoded float and INT8
figures), so what is flashed comes with the evidence of how it scores.

The `.mud` declares exactly the mean, scale and pixel format the quantization used (read back
from its report), the model family (yolov8 or yolo11, from the ONNX metadata) and the labels:
inline, or in a file beside the `.mud` when a name holds a comma.
"""

import json
import re
import shutil
import zipfile
from pathlib import Path

from posepipe.dataset.data_yaml import read_data_yaml
from posepipe.infra.errors import PosepipeError

_FAMILY = re.compile(r"YOLO(v8|11)", re.IGNORECASE)
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed: the same inputs give the same zip bytes


def model_family(description: str, source: str) -> str:
    match = _FAMILY.search(description)
    if not match:
        raise PosepipeError(
            f"{source}: '{description}' is neither YOLOv8 nor YOLO11: MaixCAM's pose decoder runs those"
        )
    return "yolov8" if match.group(1).lower() == "v8" else "yolo11"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def mud_text(cvimodel: str, family: str, pixel_format: str, mean, scale, labels: str) -> str:
    return "\n".join(
        [
            "[basic]",
            "type = cvimodel",
            f"model = {cvimodel}",
            "",
            "[extra]",
            f"model_type = {family}",
            "type = pose",
            f"input_type = {pixel_format}",
            f"mean = {', '.join(_number(v) for v in mean)}",
            f"scale = {', '.join(_number(v) for v in scale)}",
            f"labels = {labels}",
            "",
        ]
    )


def write_zip(path: Path, members: dict[str, bytes]) -> None:
    """A zip of the members (name: bytes) in sorted order, with fixed times and permissions."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, members[name])


PADDING_LABEL = "(padding)"  # the label of a constant-zero score channel: never reported


def package(
    *,
    cvimodel: Path,
    report_json: Path,
    pruned_onnx: Path,
    pruned_json: Path,
    dataset_dir: Path,
    metrics_json: Path,
    provenance_json: Path,
    labels_override: list[str] | None,
    out_mud: Path,
    out_cvimodel: Path,
    out_labels: Path,
    out_zip: Path,
    out_metrics: Path,
) -> str:
    """Write the .mud, the cvimodel, labels and metrics beside it, and the zip (with the
    provenance record too); return the .mud text. The runtime takes the class count from the
    labels, so a score channel added by the prune step gets a label too."""
    import onnx

    names = [name for _, name in sorted(read_data_yaml(dataset_dir)["names"].items())]
    if labels_override is not None:
        if len(labels_override) != len(names):
            raise PosepipeError(
                f"models: labels: {len(labels_override)} names for the {len(names)} classes of {dataset_dir}"
            )
        names = list(labels_override)
    names += [PADDING_LABEL] * json.loads(Path(pruned_json).read_text())["score_padding"]
    report = json.loads(Path(report_json).read_text())
    settings = report["settings"]
    metadata = {p.key: p.value for p in onnx.load(str(pruned_onnx), load_external_data=False).metadata_props}
    family = model_family(metadata.get("description", ""), str(pruned_onnx))
    Path(out_labels).write_text("".join(f"{name}\n" for name in names))
    needs_file = any("," in name or "\n" in name for name in names)
    labels = Path(out_labels).name if needs_file else ", ".join(names)
    text = mud_text(
        Path(out_cvimodel).name, family, settings["pixel_format"], settings["mean"], settings["scale"], labels
    )
    shutil.copyfile(cvimodel, out_cvimodel)
    shutil.copyfile(metrics_json, out_metrics)
    Path(out_mud).write_text(text)
    bundle = [Path(out_mud), Path(out_cvimodel), Path(out_metrics), Path(provenance_json)]
    bundle += [Path(out_labels)] if needs_file else []
    write_zip(Path(out_zip), {file.name: file.read_bytes() for file in bundle})
    return text
