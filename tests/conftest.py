"""Shared fixtures: the repository, ../shared, small datasets and real Snakemake runs."""

import ast
import functools
import hashlib
import inspect
import json
import os
import subprocess
import textwrap
import tomllib
from pathlib import Path

import numpy as np
import pytest
import snakemake_cli
import yaml
from posepipe.infra.shared_env import default_root

REPO = Path(__file__).resolve().parent.parent
SNAKEFILE = REPO / "workflow" / "Snakefile"
SHARED = REPO.parent / "shared"
COCO_REAL = SHARED / "data" / "coco-real"
POSEPIPE_VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


@pytest.fixture
def coco_real() -> Path:
    """The four real COCO photos; a user's clone has no ../shared, so tests skip there."""
    if not (COCO_REAL / "test_coco.json").is_file():
        pytest.skip(f"needs the shared real COCO photos at {COCO_REAL} (present in CI, absent in a user's clone)")
    return COCO_REAL


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory) -> dict[str, dict[str, Path]]:
    """A small demo dataset (8 train, 4 val images), generated once per test session."""
    from posepipe.dataset import demo

    root = tmp_path_factory.mktemp("demo")
    splits = {"train": 8, "val": 4}
    files = {split: root / "annotations" / f"{split}.json" for split in splits}
    folders = {split: root / "images" / split for split in splits}
    demo.generate(3, splits, 320, 240, files, folders)
    return {split: {"annotations": files[split], "images": folders[split]} for split in splits}


def write_json(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def assert_ultralytics_loads_what_was_converted(dataset: Path) -> dict:
    """The converter's invariant, checked with Ultralytics' own loader (`YOLODataset` on the
    written data.yaml): for every split, the images it loads and the instances it finds in each
    equal the label files written, and their totals equal what the conversion reports."""
    from ultralytics.data.dataset import YOLODataset
    from ultralytics.data.utils import check_det_dataset

    data = check_det_dataset(str(dataset / "data.yaml"))
    reported = data["posepipe"]["splits"]
    for split, counts in reported.items():
        loaded = YOLODataset(img_path=data[split], data=data, task="pose", augment=False, imgsz=64)
        found = {
            Path(f).relative_to(dataset / "images" / split): len(label["cls"])
            for f, label in zip(loaded.im_files, loaded.labels)
        }
        written = {
            p.relative_to(dataset / "images" / split): p for p in (dataset / "images" / split).rglob("*") if p.is_file()
        }
        assert sorted(found) == sorted(written), f"{split}: Ultralytics loads other images than were written"
        for image, count in found.items():
            label = (dataset / "labels" / split / image).with_suffix(".txt")
            lines = [line for line in label.read_text().splitlines() if line.strip()]
            assert count == len(lines), f"{split}/{image}: Ultralytics loads {count} of {len(lines)} instances"
        assert len(found) == counts["images"] and sum(found.values()) == counts["instances"], (split, counts)
        assert sum(1 for c in found.values() if c == 0) == counts["backgrounds"], (split, counts)
    return reported


# Geometric truth for conversions: a marker of its own colour at every keypoint of an image,
# found again in the image as Ultralytics reads it after conversion.
MARKER_COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
MARKER_SIDE = 3  # markers are 7 x 7 px: JPEG blurs their edges, not their middle


def assert_same_bytes(a: Path, b: Path, what: str = "") -> None:
    """The two files hold the same bytes; if not, a one-line failure naming them and where they
    part (short enough that CI's tail shows which files it was, not a dump of their bytes)."""
    first, second = Path(a).read_bytes(), Path(b).read_bytes()
    if first == second:
        return
    at = next((i for i, (x, y) in enumerate(zip(first, second)) if x != y), min(len(first), len(second)))
    digests = [hashlib.sha256(data).hexdigest()[:12] for data in (first, second)]
    raise AssertionError(
        f"{what + ': ' if what else ''}{a} ({len(first)} B, {digests[0]}) and {b} ({len(second)} B, "
        f"{digests[1]}) differ from byte {at}"
    )


def marked_pixels(size: tuple[int, int], points: list[tuple[float, float]]):
    """An RGB array of `size` (width, height), grey, with keypoint j's marker at points[j]."""
    import numpy as np

    pixels = np.full((size[1], size[0], 3), 128, dtype=np.uint8)
    for (x, y), colour in zip(points, MARKER_COLOURS):
        pixels[int(y) - MARKER_SIDE : int(y) + MARKER_SIDE + 1, int(x) - MARKER_SIDE : int(x) + MARKER_SIDE + 1] = (
            colour
        )
    return pixels


def marker_centres(image) -> list[tuple[float, float]]:
    """Where each marker is in an RGB image: the centre of the pixels of its colour."""
    import numpy as np

    centres = []
    for colour in MARKER_COLOURS:
        close = (np.abs(image.astype(int) - colour).max(axis=2) < 60).nonzero()
        centres.append((close[1].mean() + 0.5, close[0].mean() + 0.5))
    return centres


def assert_keypoints_on_their_markers(dataset: Path, image: str, split: str = "train") -> int:
    """Every labelled keypoint of every label row of `image` on its marker, and inside its box,
    in the image as Ultralytics reads it (its own imread). Returns the keypoints checked."""
    import numpy as np
    from posepipe.dataset.label_text import read_label_file
    from ultralytics.utils.patches import imread

    pixels = imread(str(dataset / "images" / split / image))[..., ::-1]  # BGR -> RGB
    h, w = pixels.shape[:2]
    checked = 0
    for row in read_label_file((dataset / "labels" / split / image).with_suffix(".txt")):
        cx, cy, bw, bh = row[1] * w, row[2] * h, row[3] * w, row[4] * h
        for index, colour in enumerate(MARKER_COLOURS[: (len(row) - 5) // 3]):
            x, y, v = row[5 + 3 * index : 8 + 3 * index]
            if v == 0:
                continue
            pixel = pixels[int(y * h), int(x * w)].astype(int)
            assert np.abs(pixel - colour).max() < 60, (
                f"{image}: keypoint {index} at ({x * w:.1f}, {y * h:.1f}) on {pixel}"
            )
            assert abs(x * w - cx) <= bw / 2 and abs(y * h - cy) <= bh / 2, f"{image}: keypoint {index} outside its box"
            checked += 1
    assert checked, f"{image}: no labelled keypoint to check"
    return checked


# ---- the MaixCAM runtime's integer rules, an independent reference for posepipe.device.decoder ----

IOU_TH = 0.45


def box_iou(a, b) -> float:
    wi = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    hi = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = wi * hi
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def device_reference(output0: np.ndarray, conf: float, nc: int, size: tuple[int, int]):
    """The device's integer rules applied, independently of posepipe's decoder, to Ultralytics'
    own decoded head (`output0` of the full ONNX: centre-size boxes in pixels, class scores):
    score and class the first maximum over the classes, int-truncated corner and size, NMS per
    class on the int boxes, highest score first, then the clip to the input (`size`, h x w).

    Returns the kept (x, y, w, h, score, class), every candidate (scores down to conf - 1e-3),
    and whether any decision is fragile: a score within 1e-3 of `conf`, or a same-class pair
    whose int IoU sits within 0.1 of the IoU threshold while one of its coordinates lies within
    1e-3 of an integer, where float rounding (ONNX Runtime's last bits) may truncate to the
    neighbouring integer."""
    head = output0[0]
    scores, classes = head[4 : 4 + nc].max(axis=0), head[4 : 4 + nc].argmax(axis=0)
    fragile = bool((np.abs(scores - conf) < 1e-3).any())
    candidates, kept = [], []
    for i in np.argsort(-scores, kind="stable"):
        if scores[i] <= conf - 1e-3:
            break
        cx, cy, w, h = (float(v) for v in head[:4, i])
        exact = (cx - w / 2, cy - h / 2, w, h)
        near_integer = any(abs(v - round(v)) < 1e-3 for v in exact)
        box = (*(int(v) for v in exact), float(scores[i]), int(classes[i]))
        candidates.append(_clipped(box, size))
        if scores[i] <= conf:
            continue
        overlaps = [(box_iou(_corners(box), _corners(k)), k_near) for k, k_near in kept if k[5] == box[5]]
        if any(abs(iou - IOU_TH) < 0.1 and (near_integer or k_near) for iou, k_near in overlaps):
            fragile = True
        if all(iou <= IOU_TH for iou, _ in overlaps):
            kept.append((box, near_integer))
    return [_clipped(box, size) for box, _ in kept], candidates, fragile


def _corners(box: tuple) -> tuple:
    return box[0], box[1], box[0] + box[2], box[1] + box[3]


def _clipped(box: tuple, size: tuple[int, int]) -> tuple:
    """The device's clip of an int (x, y, w, h, ...) box to the input, after NMS."""
    height, width = size
    x, y, w, h, *rest = box
    if x < 0:
        w, x = w + x, 0
    if y < 0:
        h, y = h + y, 0
    return x, y, min(w, width - x), min(h, height - y), *rest


# the workflow's default number of val shards per candidate (scattergather in workflow/Snakefile)
VAL_SHARDS = len(os.sched_getaffinity(0))


def run_snakemake(
    workdir: Path, config: dict, *targets: str, extra=(), check=True, env=None
) -> subprocess.CompletedProcess:
    """A real Snakemake run of this repository's workflow in `workdir` with `config`."""
    workdir.mkdir(parents=True, exist_ok=True)
    config_file = workdir / "test-config.yaml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    words = [
        "--snakefile", str(SNAKEFILE), "--directory", str(workdir),
        "--configfile", str(config_file), "--cores", "2", *targets, *extra,
    ]  # fmt: skip
    # a None in `env` removes that variable from the run's environment
    merged = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **(env or {})}
    result = snakemake_cli.run(words, REPO, {k: v for k, v in merged.items() if v is not None})
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
        )
    return result


# A workflow run that trains a model or runs TPU-MLIR takes minutes. A fixture whose body makes
# one is slow, and so is every test that takes it, directly or through other fixtures: found
# from the fixture graph, so that a new fixture of that kind cannot slip into `make test-fast`.
WORKFLOW_RUNS = frozenset({"run_snakemake", "build_trained_candidate"})


@functools.cache
def _makes_a_workflow_run(function) -> bool:
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError):  # no source: not one of this suite's fixtures
        return False
    called = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    return bool(called & WORKFLOW_RUNS)


# `make test` runs a worker per core (pytest-xdist), and each worker builds the session fixtures
# its tests take. So the tests that take one of these costly builds form one scope, run by one
# worker; the others are scoped by file, whose module fixtures are then built once. xdist's own
# `xdist_group` mark cannot do this under pytest 9 (it rewrites node ids, which pytest 9 derives),
# so the workers, which collect, write each test's scope into the run's base folder and the
# controller's scheduler for `--dist loadscope` reads it there.
SHARED_BUILDS = ("trained", "built_twice")


def _scope(item: pytest.Item) -> str:
    return next((name for name in SHARED_BUILDS if name in item.fixturenames), item.path.name)


def pytest_collection_modifyitems(config, items):
    for item in items:
        definitions = item._fixtureinfo.name2fixturedefs.values()
        if any(_makes_a_workflow_run(d.func) for defs in definitions for d in defs):
            item.add_marker(pytest.mark.slow)
    if hasattr(config, "workerinput"):
        scopes = json.dumps({item.nodeid: _scope(item) for item in items})
        run_folder = config._tmp_path_factory.getbasetemp().parent  # the controller's base folder
        (run_folder / f"scopes-{config.workerinput['workerid']}.json").write_text(scopes)


@pytest.hookimpl(optionalhook=True)  # a run without xdist (`-p no:xdist`) has no such hook
def pytest_xdist_make_scheduler(config, log):
    if config.getoption("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    run_folder = config._tmp_path_factory.getbasetemp()

    class BySharedBuild(LoadScopeScheduling):
        """xdist's scopes, as the workers found them (_scope); called once collection is complete."""

        @functools.cached_property
        def scopes(self) -> dict[str, str]:
            return json.loads(min(run_folder.glob("scopes-*.json")).read_text())

        def _split_scope(self, nodeid: str) -> str:
            return self.scopes[nodeid]

    return BySharedBuild(config, log)


def job_counts(dry_run_output: str) -> dict[str, int]:
    """Rule -> number of jobs, from the table `snakemake --dry-run --quiet rules` prints. Empty
    only where Snakemake says there is nothing to do: output without a table whose rows add up
    to its total fails, rather than reading as "nothing planned"."""
    rows = [line.split() for line in dry_run_output.splitlines()]
    counts = {row[0]: int(row[1]) for row in rows if len(row) == 2 and row[1].isdigit()}
    total = counts.pop("total", None)
    if total is None:
        assert "Nothing to be done" in dry_run_output, f"no job table in Snakemake's output:\n{dry_run_output[-3000:]}"
        return {}
    assert sum(counts.values()) == total, f"job table misread: {counts} against total {total}"
    return counts


def planned_counts(workdir: Path, config: dict, target: str) -> dict[str, int]:
    """The rules a dry run would run for `target` in `workdir`, and how many jobs of each."""
    return job_counts(run_snakemake(workdir, config, target, extra=["--dry-run", "--quiet", "rules"]).stdout)


def planned(workdir: Path, config: dict, target: str) -> set[str]:
    return set(planned_counts(workdir, config, target))


def pytest_configure(config):
    """Ultralytics offline, with its settings in a folder of the test run, never in $HOME."""
    from posepipe.training.ultralytics_env import prepare

    prepare(Path(config.rootpath) / ".pytest_cache" / "ultralytics")


# Training is not bit-identical across processors, so no test may depend on what one set of
# weights happens to do: `POSEPIPE_TEST_SEED=1 make test` trains every test model differently
# and shows whether a test relies on its weights (docs/testing.md).
TRAINING_SEED = int(os.environ.get("POSEPIPE_TEST_SEED", "0"))


def tiny_config(**model_overrides) -> dict:
    """The demo pipeline shrunk for tests: 8 + 4 images of 160x128, one epoch at 64x96."""
    model = {
        "dataset": "demo",
        "architecture": "yolov8n-pose.yaml",
        "imgsz": [64, 96],
        "epochs": 1,
        "batch": 4,
        "seed": TRAINING_SEED,
    }
    return {
        "demo": {"seed": 0, "train_images": 8, "val_images": 4, "width": 160, "height": 128},
        "datasets": {
            "demo": {
                split: {
                    "annotations": f"results/demo/annotations/{split}.json",
                    "images": f"results/demo/images/{split}",
                }
                for split in ("train", "val")
            }
        },
        "models": {"tiny": {**model, **model_overrides}},
    }


def tiny_full_config() -> dict:
    """The tiny config through quantization and the .mud."""
    config = tiny_config()
    # one epoch gives a model whose INT8 outputs are far from its float ones: these tests are
    # about bytes and files, not accuracy, so the deploy check is loose and the cheapest
    # candidate ships whatever its drop; two cheap recipes (BF16 needs no calibration)
    config["quantize"] = {
        "venv_root": str(default_root()),
        "deploy_tolerance": [0.5, 0.1],
        "calibration_images": 4,
        "recipes": [{"name": "int8"}, {"name": "bf16", "precision": "BF16"}],
        "max_accuracy_drop": 1.0,
    }
    return config


def set_key(path: list, value):
    """A change to a config: the key at `path` (a list of keys) set to `value`."""

    def change(config):
        target = config
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = value

    return change


OFFLINE_SITE = Path(__file__).resolve().parent / "offline"


def offline_env(tmp: Path) -> dict[str, str | None]:
    """Environment for a run with every network connection refused and recorded, and an empty
    home directory, so that a test can check nothing was fetched nor written there."""
    home = tmp / "home"
    home.mkdir(parents=True, exist_ok=True)
    return {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(OFFLINE_SITE), os.environ.get("PYTHONPATH")])),
        "POSEPIPE_NETWORK_LOG": str(tmp / "network-attempts.log"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        # pytest's own settings folder (pytest_configure) would hide a rule that leaves
        # Ultralytics to write its settings under $HOME
        "YOLO_CONFIG_DIR": None,
    }


@pytest.fixture(scope="session")
def tpu_mlir_venv(tmp_path_factory) -> None:
    """The shared TPU-MLIR environment, installed from PyPI once per machine (minutes the first
    time, then reused): every test whose workflow quantizes takes it, before any offline run."""
    run_snakemake(tmp_path_factory.mktemp("tpu-mlir-venv"), small_model_config(), "tpu_mlir_venv")


@pytest.fixture(scope="session")
def trained(tmp_path_factory, tpu_mlir_venv) -> Path:
    """A workdir where a small model went through the whole chain, offline: trained, validated,
    exported, pruned, quantized by the real TPU-MLIR tools (venv route) and packaged.

    It overfits 32 demo images (val = train) for a minute: enough for a box mAP50 near 0.8, so
    that comparisons between .pt, ONNX and the device decoder mean something."""
    workdir = tmp_path_factory.mktemp("trained")
    run_snakemake(workdir, small_model_config(), "results/small.mud", env=offline_env(workdir))
    return workdir


@pytest.fixture(scope="session")
def built_twice(tmp_path_factory, tpu_mlir_venv) -> tuple[Path, Path]:
    """Two builds from scratch of the tiny config, in two folders (test_reproducibility, test_provenance)."""
    root = tmp_path_factory.mktemp("rebuild")
    for name in ("a", "b"):
        run_snakemake(root / name, tiny_full_config(), "results/tiny.mud")
    return root / "a", root / "b"


SMALL_MODEL_RECIPES = [
    {"name": "int8"},
    {"name": "int8_mixed", "bf16_layers": "search", "expected_cos": 0.9999, "max_float_layers": 8},
    {"name": "int8_bf16_head", "bf16_layers": "head"},
    {"name": "bf16", "precision": "BF16"},
]


def small_model_config() -> dict:
    config = tiny_config(epochs=30, imgsz=[128, 160], batch=4)  # 240 steps: boxes are learned (mAP50 ~0.8)
    # figures drawn whole: 30 epochs learn their boxes (mAP50 near 0.8), which the comparisons of
    # the device decoder with Ultralytics need; the demo's panels halve that
    config["demo"].update(train_images=32, width=320, height=240, panels=False)
    config["datasets"]["demo"]["val"] = dict(config["datasets"]["demo"]["train"])
    config["models"] = {"small": config["models"]["tiny"]}
    config["quantize"] = {
        # absolute: the offline runs give the pipeline an empty $HOME, but reuse the machine's TPU-MLIR venv
        "venv_root": str(default_root()),
        # a tolerance any trained weights meet: the one-image similarity of INT8 varies with the
        # weights; tests that need a miss force it (test_quantize.py)
        "deploy_tolerance": [0.5, 0.1],
        # the search runs the model min(calibration images, 8) times for each of its ~175 layers:
        # one image costs an eighth of the usual eight, and it still keeps layers in BF16
        "calibration_images": 1,
        # every kind of recipe; the search is asked for a cosine no INT8 model reaches, so that
        # it always keeps layers in BF16
        "recipes": SMALL_MODEL_RECIPES,
        # any drop passes: the cheapest ships, whatever these weights do (test_quantize.py
        # holds the gate against the measured figures)
        "max_accuracy_drop": 1.0,
    }
    return config


def build_trained_candidate(trained: Path, out: Path, recipe, deploy_tolerance=(0.5, 0.1)) -> dict:
    """build_candidate() itself, real tools, on the `trained` model's transform, into `out`."""
    from posepipe.dataset.data_yaml import val_images
    from posepipe.tpu_mlir.env import Runner
    from posepipe.tpu_mlir.quantize import build_candidate

    out.mkdir(parents=True, exist_ok=True)
    quantize = trained / "results" / "small" / "quantize"
    used = json.loads((quantize / "transform" / "transform.json").read_text())["runner"]
    return build_candidate(
        transform_dir=quantize / "transform",
        recipe=recipe,
        calibration_table=quantize / "calibration" / "kl.table",
        calibration_images=val_images(trained / "results" / "datasets" / "demo")[:8],
        deploy_tolerance=list(deploy_tolerance),
        runner=Runner(used["kind"], used["location"]),
        work_dir=out / "work",
        out_cvimodel=out / "small.cvimodel",
        out_report=out / "report.json",
    )
