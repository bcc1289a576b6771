"""A MaixPy application per model: point the MaixCAM's camera and see the keypoints.

MaixPy's own pose example draws a skeleton only for the 17 COCO person keypoints; this app
draws the dataset's own skeleton (from its COCO categories), whatever K is. The folder holds
`app.yaml` (as MaixPy's `projects/*/app.yaml`), `main.py` (short, plain values at its top for a
user to edit) and the model files; the real `maixtool release` packs it into
`dist/<id>_v<version>.zip`, which the device installs with `app_store_cli install`.
"""

import configparser
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from posepipe.dataset.data_yaml import read_data_yaml
from posepipe.infra import shared_env
from posepipe.infra.errors import PosepipeError
from posepipe.infra.staging import staged
from posepipe.packaging.package import write_zip

log = logging.getLogger("posepipe.packaging.app")

MAIN_PY = '''\
"""{name}: {desc}

Made by posepipe for the model {model}. Edit freely: the values below are all there is to set."""

import os

import maix
from maix import app, camera, display, err, image, nn, time

MODEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), {mud!r})
CONF_TH = {conf_th!r}  # draw a detection whose score is above this ({conf_th_source})
IOU_TH = {iou_th!r}  # non-maximum suppression: boxes overlapping more are one object
KEYPOINT_TH = {keypoint_th!r}  # draw a keypoint whose visibility is above this ({keypoint_th_source})
SKELETON: list[tuple[int, int]] = {skeleton!r}  # keypoint pairs joined by a line (indices from 0)
BOX_COLOR = image.COLOR_RED
SKELETON_COLOR = image.COLOR_GREEN

OLDEST_MAIXPY = {oldest!r}  # the first release with every call below and a decoder for any keypoint count


def release(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".")[:3] if part.isdigit())


if release(maix.__version__) < release(OLDEST_MAIXPY):
    # the launcher shows this message in a dialog when the app exits
    message = f"needs MaixPy {{OLDEST_MAIXPY}} or newer, this device has {{maix.__version__}}"
    app.set_exit_msg(err.Err.ERR_NOT_IMPL, message)
    raise SystemExit(1)

detector = nn.{detector}(model=MODEL, dual_buff=True)
cam = camera.Camera(detector.input_width(), detector.input_height(), detector.input_format())
disp = display.Display()

while not app.need_exit():
    img = cam.read()
    for obj in detector.detect(img, conf_th=CONF_TH, iou_th=IOU_TH, keypoint_th=KEYPOINT_TH):
        img.draw_rect(obj.x, obj.y, obj.w, obj.h, color=BOX_COLOR)
        img.draw_string(obj.x, obj.y, f"{{detector.labels[obj.class_id]}}: {{obj.score:.2f}}", color=BOX_COLOR)
        points = obj.points  # x0, y0, x1, y1, ...; -1 where a keypoint is under KEYPOINT_TH
        for a, b in SKELETON:
            if points[2 * a] >= 0 and points[2 * b] >= 0:
                img.draw_line(points[2 * a], points[2 * a + 1], points[2 * b], points[2 * b + 1], SKELETON_COLOR, 2)
        for i in range(0, len(points), 2):
            if points[i] >= 0:
                img.draw_circle(points[i], points[i + 1], 3, SKELETON_COLOR, -1)
    img.draw_string(4, 4, f"{{time.fps():.1f}} fps", color=BOX_COLOR)
    disp.show(img)
'''


# The first MaixPy release that runs the app, by detector (docs/app.md, "Which MaixPy"): its
# decoder reads any keypoint count K and class count (YOLOv8 from 4.4.0: up to 4.3.7 it decodes
# exactly 17 keypoints), and it has every call main.py makes (`time.fps` from 4.5.0; nn.YOLO11
# from 4.7.0), as the decoders compiled into MaixPy's wheels and their stubs show.
OLDEST_MAIXPY = {"yolov8": "4.5.0", "yolo11": "4.7.0"}
DETECTORS = {"yolov8": "YOLOv8", "yolo11": "YOLO11"}


def app_id(model: str) -> str:
    """An app id MaixPy takes (letters, digits, _) from the model name."""
    return "posepipe_" + re.sub(r"[^A-Za-z0-9_]", "_", model)


def main_py(model: str, mud: str, model_type: str, skeleton: list, settings: dict, measured: dict, fps: float) -> str:
    """main.py's text; `measured` is the shipped cvimodel's `thresholds` in metrics.json (the
    config's where it pins them, else the F1-best on the val images), `fps` its estimated speed."""

    def value(key: str) -> float:
        return float(settings[key] if settings[key] is not None else measured[key])

    def source(key: str, figure: str) -> str:
        if settings[key] is not None:
            return "from the config"
        return f"the best {figure} F1 of the shipped cvimodel on the val images, {measured[figure + '_f1']:.3f}"

    return MAIN_PY.format(
        name=settings["name"] or model,
        desc=_desc(model, model_type, skeleton, fps),
        model=model,
        mud=mud,
        conf_th=value("conf_th"),
        conf_th_source=source("conf_th", "detection"),
        iou_th=float(settings["iou_th"]),
        keypoint_th=value("keypoint_th"),
        keypoint_th_source=source("keypoint_th", "keypoint"),
        skeleton=[tuple(pair) for pair in skeleton],
        detector=DETECTORS[model_type],
        oldest=OLDEST_MAIXPY[model_type],
    )


def _desc(model: str, model_type: str, skeleton: list, fps: float) -> str:
    drawn = f"a skeleton of {len(skeleton)} lines" if skeleton else "the keypoints (the dataset has no skeleton)"
    speed = f"about {fps:.0f} fps estimated before flashing (posepipe.device.speed)"
    needs = f"needs MaixPy {OLDEST_MAIXPY[model_type]} or newer"
    return f"pose detection with {model}, drawing boxes, labels, scores and {drawn}; {speed}; {needs}"


def shipped_fps(metrics: dict) -> float:
    """The shipped cvimodel's estimated frames per second (metrics.json's quantization table)."""
    quantization = metrics["quantization"]
    return next(r for r in quantization["candidates"] if r["recipe"] == quantization["chosen"]["recipe"])[
        "estimated_fps"
    ]


def model_figures(metrics: dict) -> tuple[dict, float]:
    """What the app of a model takes from its metrics.json: the shipped cvimodel's thresholds
    (measured unless the config pins them) and its estimated fps."""
    return metrics["cvimodel"]["thresholds"], shipped_fps(metrics)


def search_figures(search: dict) -> tuple[dict, float]:
    """The same from a search's search.json: those of the (point, recipe) it ships."""
    return search["chosen"]["thresholds"], search["chosen"]["estimated_fps"]


def app_yaml(model: str, model_type: str, files: list[str], skeleton: list, settings: dict, fps: float) -> dict:
    return {
        "id": app_id(model),
        "name": settings["name"] or model,
        "version": settings["version"],
        "author": settings["author"],
        "icon": "",
        "desc": _desc(model, model_type, skeleton, fps),
        "files": sorted(files),
    }


def model_type(mud: Path) -> str:
    parser = configparser.ConfigParser()
    parser.read_string(Path(mud).read_text())
    return parser["extra"]["model_type"]


def ensure_maixtool(*, venv: Path, requirements: Path, log_file: Path, ready: Path) -> str:
    """The shared maixtool environment (shared_env), built from the pinned requirements."""

    def build(folder: Path) -> None:
        with open(log_file, "a") as output:
            quiet = {"stdout": output, "stderr": subprocess.STDOUT}
            subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True, **quiet)
            pip = [str(folder / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "install"]
            if subprocess.run([*pip, "-r", str(requirements)], **quiet).returncode != 0:
                raise PosepipeError(f"{folder}: pip install of {requirements} failed; see {log_file}")
        if not (folder / "bin" / "maixtool").is_file():
            raise PosepipeError(f"{folder}: no maixtool after the install")

    built = shared_env.ensure(Path(venv), build, log.info)
    Path(ready).write_text(f"{venv} -> {os.readlink(venv)}\n")
    return f"{venv}: {'built' if built else 'already built, reused'}"


def build_app(
    *,
    model: str,
    mud: Path,
    cvimodel: Path,
    labels: Path,
    thresholds: dict,
    fps: float,
    dataset_dir: Path,
    settings: dict,
    maixtool: Path,
    out_dir: Path,
) -> Path:
    """Write the app folder and release it with maixtool; returns the zip. `thresholds` are the
    shipped cvimodel's measured ones (metrics.json's `thresholds`), `fps` its estimated speed.
    Built beside `out_dir` and moved into place, so a failure leaves nothing."""
    skeleton = read_data_yaml(dataset_dir).get("skeleton") or []
    model_files = [Path(mud), Path(cvimodel)]
    if f"labels = {Path(labels).name}" in Path(mud).read_text():
        model_files.append(Path(labels))
    out_dir = Path(out_dir)
    with staged(out_dir) as staging:
        staging.mkdir(parents=True)
        for file in model_files:
            shutil.copyfile(file, staging / file.name)
        detector_type = model_type(mud)
        main = main_py(model, Path(mud).name, detector_type, skeleton, settings, thresholds, fps)
        (staging / "main.py").write_text(main)
        info = app_yaml(model, detector_type, ["main.py", *(f.name for f in model_files)], skeleton, settings, fps)
        (staging / "app.yaml").write_text(yaml.safe_dump(info, sort_keys=False, allow_unicode=True))
        release = subprocess.run(
            [str(Path(maixtool) / "bin" / "maixtool"), "release"], cwd=staging, capture_output=True, text=True
        )
        (staging / "maixtool-release.log").write_text(release.stdout + release.stderr)
        archive = staging / "dist" / f"{info['id']}_v{info['version']}.zip"
        if release.returncode != 0 or not archive.is_file():
            last = (release.stdout + release.stderr).strip().splitlines()[-1:] or ["(no output)"]
            raise PosepipeError(f"maixtool release failed (exit {release.returncode}): {last[0][:300]}")
        _same_bytes_for_the_same_app(archive, staging)
    return out_dir / "dist" / archive.name


def _same_bytes_for_the_same_app(archive: Path, staging: Path) -> None:
    """maixtool zips in the file system's order with the copies' times and writes a release
    record with the date: the zip is written again from the same members in sorted order with
    fixed times (the device only unpacks it), and the dated record goes."""
    import zipfile

    with zipfile.ZipFile(archive) as original:
        members = {name: original.read(name) for name in original.namelist() if not name.endswith("/")}
    write_zip(archive, members)
    for record in (staging / "dist").glob("release_info_v*.yaml"):
        record.unlink()
    shutil.rmtree(staging / "dist" / "pack")
