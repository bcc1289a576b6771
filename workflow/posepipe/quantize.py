"""TPU-MLIR: the pruned ONNX to MaixCAM (cv181x) cvimodels, one per quantization recipe, and
the choice of the one to ship.

model_transform runs once per model (the float MLIR every recipe starts from); each recipe then
runs run_calibration (with a mixed-precision search, or fp_forward for a BF16 head, when it asks)
and model_deploy in a work folder of its own (some TPU-MLIR files have fixed names), through a
runner: a Python 3.10 virtual environment or a docker container. The config schema checks every
value before any tool runs (the tools answer malformed ones with tracebacks or LLVM assertion
dumps), and the similarity figures the tools print are parsed into a JSON. Which candidate ships
is decided on accuracy measured on every val image (rule validate_candidate), not on the one
test image of the tools' own check.
"""

import hashlib
import json
import logging
import math
import re
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from posepipe.errors import PosepipeError
from posepipe.tpu_mlir_env import Runner

log = logging.getLogger("posepipe.quantize")

_BLOCK = re.compile(
    r"^\[(?P<tensor>.+?)\s*\]\s+(?P<verdict>[A-Z_]+) \[(?P<result>PASSED|FAILED)\]\s*$"
    r"(?:\s*^\s*\([0-9, ]*\)\s+\w+\s*$)?"  # model_deploy prints the shape and dtype first
    r"(?:\s*^\s*cosine_similarity\s*=\s*(?P<cosine>\S+)\s*$)?"
    r"(?:\s*^\s*euclidean_similarity\s*=\s*(?P<euclidean>\S+)\s*$)?"
    r"(?:\s*^\s*sqnr_similarity\s*=\s*(?P<sqnr>\S+)\s*$)?",
    re.MULTILINE,
)


@dataclass(frozen=True)
class QuantizeSettings:
    """Everything the tools are told; what the .mud declares comes from the same values."""

    model_name: str
    height: int
    width: int
    output_names: tuple[str, ...]
    mean: tuple[float, float, float]
    scale: tuple[float, float, float]
    pixel_format: str
    processor: str
    transform_tolerance: tuple[float, float]
    tpu_mlir_version: str


def settings_for_tools(
    raw: dict, model_name: str, height: int, width: int, output_names: list[str]
) -> QuantizeSettings:
    """What the tools are told. The config schema has checked every configured value (the tools
    answer malformed ones with tracebacks or LLVM assertion dumps); the output names come from
    the pruned graph, and go into a comma-separated argument."""
    if len(output_names) != 3 or any("," in name for name in output_names):
        raise PosepipeError(f"pruned outputs {output_names}: expected three names without commas")
    return QuantizeSettings(
        model_name=model_name,
        height=height,
        width=width,
        output_names=tuple(output_names),
        mean=tuple(float(v) for v in raw["mean"]),
        scale=tuple(float(v) for v in raw["scale"]),
        pixel_format=raw["pixel_format"],
        processor=raw["processor"],
        transform_tolerance=(float(raw["transform_tolerance"][0]), float(raw["transform_tolerance"][1])),
        tpu_mlir_version=str(raw["tpu_mlir_version"]),
    )


def _numbers(values) -> str:
    return ",".join(repr(v) for v in values)


def transform_args(s: QuantizeSettings, onnx_name: str, test_image: str) -> list[str]:
    return [
        "model_transform.py",
        "--model_name", s.model_name,
        "--model_def", onnx_name,
        "--input_shapes", f"[[1,3,{s.height},{s.width}]]",
        "--mean", _numbers(s.mean),
        "--scale", _numbers(s.scale),
        "--keep_aspect_ratio",
        "--pixel_format", s.pixel_format,
        "--channel_format", "nchw",
        "--output_names", ",".join(s.output_names),
        "--test_input", test_image,
        "--test_result", f"{s.model_name}_top_outputs.npz",
        "--tolerance", _numbers(s.transform_tolerance),
        "--mlir", f"{s.model_name}.mlir",
    ]  # fmt: skip


@dataclass(frozen=True)
class Recipe:
    """One candidate way to quantize (config quantize.recipes; the schema checked each value)."""

    name: str
    precision: str = "INT8"  # INT8, or BF16 throughout
    calibration: str = "kl"  # run_calibration --cali_method
    bf16_layers: str = "none"  # none, search (search_qtable), head (fp_forward from head_from)
    head_from: tuple[str, ...] = ()  # MLIR layers; none given: the keypoint head's last convolutions
    expected_cos: float = 0.99  # search_qtable: the output cosine to reach
    max_float_layers: int = 20  # search_qtable: at most this many layers in BF16

    @classmethod
    def from_config(cls, entry: dict) -> "Recipe":
        return cls(**{**entry, "head_from": tuple(entry.get("head_from", ()))})


# search_qtable runs the model this many times per layer tried; TPU-MLIR's examples use 8-10
SEARCH_INFERENCES = 8
QTABLE = "qtable"


def calibration_args(s: QuantizeSettings, method: str, calibration_dir: str, count: int, search: Recipe | None = None):
    """run_calibration; with a `search` recipe, TPU-MLIR's search for the layers to keep in BF16 too."""
    args = [
        "run_calibration.py", f"{s.model_name}.mlir",
        "--dataset", calibration_dir,
        "--input_num", str(count),
        "--cali_method", method,
    ]  # fmt: skip
    if search:
        recipe = search
        args += [
            "--search", "search_qtable",
            "--expected_cos", repr(recipe.expected_cos),
            "--max_float_layers", str(recipe.max_float_layers),
            "--fp_type", "BF16",
            "--chip", s.processor,
            "--inference_num", str(min(count, SEARCH_INFERENCES)),
            "--quantize_table", QTABLE,
        ]  # fmt: skip
    return args + ["-o", f"{s.model_name}_cali_table"]


def head_args(s: QuantizeSettings, layers: list[str]) -> list[str]:
    """fp_forward: the named layers and everything after them in BF16."""
    return [
        "fp_forward.py", f"{s.model_name}.mlir",
        "--chip", s.processor,
        "--fpfwd_outputs", ",".join(layers),
        "--fp_type", "BF16",
        "-o", QTABLE,
    ]  # fmt: skip


def deploy_args(s: QuantizeSettings, recipe: Recipe, model_file: str, tolerance: tuple | None) -> list[str]:
    """model_deploy; with a `tolerance`, the outputs on the test image are compared with the float ones."""
    args = ["model_deploy.py", "--mlir", f"{s.model_name}.mlir", "--quantize", recipe.precision]
    if recipe.precision == "INT8":
        args += ["--quant_input", "--calibration_table", f"{s.model_name}_cali_table"]
    if recipe.bf16_layers != "none":
        args += ["--quantize_table", QTABLE]
    args += ["--processor", s.processor]
    if tolerance:
        args += [
            "--test_input", f"{s.model_name}_in_f32.npz",
            "--test_reference", f"{s.model_name}_top_outputs.npz",
            "--tolerance", _numbers(float(value) for value in tolerance),
        ]  # fmt: skip
    return args + ["--model", model_file]


def parse_similarity(text: str) -> list[dict]:
    """Every comparison block the tools print: tensor, verdict, passed, cosine, euclidean, sqnr."""
    blocks = []
    for match in _BLOCK.finditer(text):
        block = {"tensor": match["tensor"], "verdict": match["verdict"], "passed": match["result"] == "PASSED"}
        for key in ("cosine", "euclidean", "sqnr"):
            if match[key] is not None:
                block[key] = float(match[key])
        blocks.append(block)
    return blocks


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


# A cvimodel stores its build time, and its header the md5 of all that follows the header
# (magic[8], body_size u32, major, minor, md5[16], chip[16], padding[2]). Setting the time to a
# constant and recomputing the md5 makes the same inputs give the same bytes.
CVIMODEL_HEADER = 48
BUILD_TIME = re.compile(rb"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
FIXED_BUILD_TIME = b"1970-01-01 00:00:00"


def fixed_build_time(cvimodel: bytes) -> bytes:
    body_size = int.from_bytes(cvimodel[8:12], "little")
    stamps = list(BUILD_TIME.finditer(cvimodel, CVIMODEL_HEADER, CVIMODEL_HEADER + body_size))
    if cvimodel[:8] != b"CviModel" or len(stamps) != 1:
        log.warning("cvimodel layout not recognised (%d build times): its build time stays in it", len(stamps))
        return cvimodel
    start, end = stamps[0].span()
    rest = cvimodel[CVIMODEL_HEADER:start] + FIXED_BUILD_TIME + cvimodel[end:]
    return cvimodel[:14] + hashlib.md5(rest).digest() + cvimodel[30:CVIMODEL_HEADER] + rest


def calibration_set(val_images: list[Path], wanted: int) -> list[Path]:
    chosen = val_images[:wanted]
    if len(chosen) < wanted:
        log.info(
            "calibration: %d images asked for, the val split has %d: using %d", wanted, len(val_images), len(chosen)
        )
    return chosen


def fresh_folder(path: Path) -> Path:
    path = Path(path).resolve()
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def keypoint_head_layers(pruned_onnx: Path, keypoints_output: str) -> list[str]:
    """The MLIR names of the convolutions nearest the keypoint output (in a YOLO pose head, the
    last conv of each scale's keypoint branch): with what follows them, the part of the graph
    that turns features into keypoint coordinates, where INT8's one scale per tensor hurts most."""
    import onnx

    graph = onnx.load(str(pruned_onnx), load_external_data=False).graph
    producer = {output: node for node in graph.node for output in node.output}
    layers, seen, pending = [], set(), [keypoints_output]
    while pending:
        node = producer.get(pending.pop())
        if node is None or node.name in seen:
            continue
        seen.add(node.name)
        if node.op_type == "Conv":
            layers.append(f"{node.output[0]}_Conv")  # TPU-MLIR names an op by its output and type
        else:
            pending += list(node.input)
    if not layers:
        raise PosepipeError(f"{pruned_onnx}: no convolution feeds the keypoint output {keypoints_output}")
    return sorted(layers)


def transform(
    *,
    pruned_onnx: Path,
    pruned_json: Path,
    test_image: Path,
    settings_raw: dict,
    model_name: str,
    imgsz: list[int],
    runner: Runner,
    out_dir: Path,
) -> dict:
    """model_transform into `out_dir`: the float MLIR every recipe starts from, its weights, the
    preprocessed test input and the float outputs on it; transform.json says what was done."""
    description = json.loads(Path(pruned_json).read_text())
    outputs = {o["role"]: o["name"] for o in description["outputs"]}
    s = settings_for_tools(settings_raw, model_name, imgsz[0], imgsz[1], list(outputs.values()))
    out_dir = fresh_folder(out_dir)
    test_name = f"test{Path(test_image).suffix.lower()}"
    shutil.copyfile(test_image, out_dir / test_name)  # copies: the folder is mounted into containers
    shutil.copyfile(pruned_onnx, out_dir / "model.onnx")
    (out_dir / "logs").mkdir()
    output, _ = run_tool(
        runner, transform_args(s, "model.onnx", test_name), out_dir, out_dir / "logs" / "transform.log"
    )
    report = {
        "model": s.model_name,
        "tpu_mlir_version": s.tpu_mlir_version,
        "runner": {"kind": runner.kind, "location": runner.location},
        "settings": {k: v for k, v in asdict(s).items() if k not in ("model_name", "tpu_mlir_version")},
        "test_image": Path(test_image).name,
        "keypoint_head": keypoint_head_layers(pruned_onnx, outputs["keypoints"]),
        "similarity": parse_similarity(output),
    }
    (out_dir / "transform.json").write_text(json.dumps(report, indent=1) + "\n")
    return report


def mlir_layers(mlir: Path) -> set[str]:
    return set(re.findall(r'loc\("([^"]+)"\)', Path(mlir).read_text()))


# model_deploy's listing names loads and stores by prefix and type casts by suffix: not layers
_NOT_A_LAYER = re.compile(r"^(load|store)_|_(bf16|f32|fp32|int8|uint8)$")


def bf16_content(tensor_info: Path) -> dict:
    """What the cvimodel really computes in BF16, from model_deploy's command-buffer listing
    (`*_tensor_info.txt`: one row per tensor slice with its shape and type): the BF16 layers, and
    the share of all layers' output elements that are BF16, the cost figure (see choose())."""
    rows = [line.split() for line in Path(tensor_info).read_text().splitlines()[1:]]
    layers = {}  # name -> (type, elements); a layer split into slices is listed once per slice
    for row in rows:
        if len(row) == 10 and row[8] != "x" and row[5] != "x" and not _NOT_A_LAYER.search(row[1]):
            layers.setdefault(row[1], (row[8], math.prod(int(v) for v in row[5].split(","))))
    total = sum(elements for _, elements in layers.values())
    bf16 = {name: elements for name, (kind, elements) in layers.items() if kind == "bf16"}
    return {
        "layers": sorted(bf16),
        "layer_count": len(layers),
        "elements_share": round(sum(bf16.values()) / total, 6) if total else 0.0,
    }


def transformed_work_folder(transform_dir: Path, work_dir: Path) -> tuple[QuantizeSettings, dict, Path]:
    """A fresh work folder holding the transform's files (the MLIR names its weight file
    relative to itself; copies, since the folder is what a container mounts)."""
    transformed = json.loads((Path(transform_dir) / "transform.json").read_text())
    s = QuantizeSettings(
        model_name=transformed["model"], tpu_mlir_version=transformed["tpu_mlir_version"],
        **{k: tuple(v) if isinstance(v, list) else v for k, v in transformed["settings"].items()},
    )  # fmt: skip
    work_dir = fresh_folder(work_dir)
    for file in Path(transform_dir).iterdir():
        if file.is_file():
            shutil.copyfile(file, work_dir / file.name)
    (work_dir / "logs").mkdir()
    return s, transformed, work_dir


def copy_calibration_images(images: list[Path], work_dir: Path) -> str:
    (work_dir / "calibration").mkdir()
    for index, image in enumerate(images):
        shutil.copyfile(image, work_dir / "calibration" / f"{index:05d}{image.suffix.lower()}")
    return "calibration"


def without_time_lines(table: str) -> str:
    """A TPU-MLIR table without the time it was written (same inputs, same bytes)."""
    return "".join(
        line
        for line in table.splitlines(keepends=True)
        if not line.startswith(("# genetated time", "# generated time"))
    )


def calibrate(
    *, transform_dir: Path, method: str, calibration_images: list[Path], runner: Runner, work_dir: Path, out_table: Path
) -> str:
    """The INT8 threshold table of one calibration method, shared by every recipe that uses it."""
    s, _, work_dir = transformed_work_folder(transform_dir, work_dir)
    images = copy_calibration_images(calibration_images, work_dir)
    run_tool(
        runner,
        calibration_args(s, method, images, len(calibration_images)),
        work_dir,
        work_dir / "logs" / "calibration.log",
    )
    Path(out_table).write_text(without_time_lines((work_dir / f"{s.model_name}_cali_table").read_text()))
    return f"{method}: {len(calibration_images)} calibration images"


def build_candidate(
    *,
    transform_dir: Path,
    recipe: Recipe,
    calibration_table: Path | None,
    calibration_images: list[Path],
    deploy_tolerance: list[float],
    runner: Runner,
    work_dir: Path,
    out_cvimodel: Path,
    out_report: Path,
) -> dict:
    """One recipe's cvimodel from the transformed MLIR, and a report of what it holds: the
    tools' similarity on the test image (a miss is recorded, not fatal: accuracy on every val
    image decides), the BF16 layers read back from the built model, and its size. INT8 takes
    the shared `calibration_table` of its method; a search calibrates on its own, since it
    searches with the images."""
    s, transformed, work_dir = transformed_work_folder(transform_dir, work_dir)
    logs = work_dir / "logs"
    report = {"recipe": asdict(recipe), "deploy_tolerance": list(deploy_tolerance), "similarity": {}}
    if recipe.bf16_layers == "search":
        images = copy_calibration_images(calibration_images, work_dir)
        args = calibration_args(s, recipe.calibration, images, len(calibration_images), search=recipe)
        try:
            run_tool(runner, args, work_dir, logs / "calibration.log")
        except PosepipeError:
            # a search that misses expected_cos with its first layers renders its layer graph to
            # PDF with Graphviz, under the tpu_mlir wheel's own glib (which needs libpcre3)
            if "gen_dot_graph" in (logs / "calibration.log").read_text():
                raise PosepipeError(
                    f"quantize.recipes: {recipe.name}: TPU-MLIR's search_qtable could not render its result with "
                    f"Graphviz in the {runner.kind} runner (Debian: apt-get install graphviz libpcre3); "
                    f"see {logs / 'calibration.log'}"
                ) from None
            raise
    elif recipe.precision == "INT8":
        shutil.copyfile(calibration_table, work_dir / f"{s.model_name}_cali_table")
    if recipe.precision == "INT8":
        report["calibration_images"] = [p.name for p in calibration_images]
    if recipe.bf16_layers == "head":
        head = list(recipe.head_from or transformed["keypoint_head"])
        if missing := sorted(set(head) - mlir_layers(work_dir / f"{s.model_name}.mlir")):
            raise PosepipeError(
                f"quantize.recipes: {recipe.name}: head_from: no layer {', '.join(missing)} in {s.model_name}.mlir"
            )
        report["head_from"] = head
        run_tool(runner, head_args(s, head), work_dir, logs / "fp_forward.log")
    if recipe.bf16_layers != "none":
        # fp_forward lists its layers in set order, which changes from run to run: sorted, and
        # without the time it was written, the same layers give the same table and cvimodel
        lines = without_time_lines((work_dir / QTABLE).read_text()).splitlines()
        comments = [line for line in lines if line.startswith("#")]
        layers = sorted(line for line in lines if line and not line.startswith("#"))
        qtable = "".join(f"{line}\n" for line in comments + layers)
        (work_dir / QTABLE).write_text(qtable)
        (logs / QTABLE).write_text(qtable)  # kept with the tool logs
        report["qtable"] = [line.split()[0] for line in layers]
    model_file = f"{s.model_name}_{recipe.name}.cvimodel"
    try:
        output, _ = run_tool(
            runner, deploy_args(s, recipe, model_file, deploy_tolerance), work_dir, logs / "deploy.log"
        )
        report["similarity"]["deploy"] = parse_similarity(output)
    except ToleranceError as error:
        log.warning("%s: %s; building it unchecked: its accuracy on the val images decides", recipe.name, error)
        report["similarity"]["deploy"] = parse_similarity((logs / "deploy.log").read_text())
        run_tool(runner, deploy_args(s, recipe, model_file, None), work_dir, logs / "deploy-unchecked.log")
    report["similarity_passed"] = all(b["passed"] for b in report["similarity"]["deploy"])
    report["bf16"] = bf16_content(work_dir / f"{Path(model_file).stem}_tensor_info.txt")
    cvimodel = fixed_build_time((work_dir / model_file).read_bytes())
    report["size_bytes"] = len(cvimodel)
    partial = work_dir / f"{model_file}.fixed"
    partial.write_bytes(cvimodel)
    shutil.move(partial, out_cvimodel)  # a rename where the work folder shares its file system
    Path(out_report).write_text(json.dumps(report, indent=1) + "\n")
    return report


def simulate(*, cvimodel: Path, dataset_dir: Path, imgsz: list[int], runner: Runner, work_dir: Path, out_dir: Path):
    """The cvimodel through TPU-MLIR's host simulator (model_runner) on every val image,
    preprocessed as the device does (validate.device_inputs): one .npz of head outputs per image
    in `out_dir`, and index.json naming each one's image and original size."""
    from posepipe.validate import device_inputs

    work_dir = fresh_folder(work_dir)
    (work_dir / "inputs").mkdir()
    index = []
    for number, (path, size, array) in enumerate(device_inputs(dataset_dir, *imgsz)):
        name = f"{number:06d}.npz"
        np.savez(work_dir / "inputs" / name, images=array)
        index.append({"image": path.relative_to(dataset_dir).as_posix(), "size": list(size), "outputs": name})
    shutil.copyfile(cvimodel, work_dir / "model.cvimodel")  # copies: the folder is what a container mounts
    shutil.copyfile(Path(__file__).with_name("cvimodel_runner.py"), work_dir / "cvimodel_runner.py")
    result = runner.run(["python3", "cvimodel_runner.py", "model.cvimodel", "inputs", "outputs"], work_dir)
    (work_dir / "runner.log").write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise PosepipeError(f"model_runner on {cvimodel} failed; see {work_dir / 'runner.log'}")
    (work_dir / "outputs" / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    shutil.rmtree(out_dir, ignore_errors=True)
    shutil.move(work_dir / "outputs", out_dir)
    return f"{len(index)} val images through {Path(cvimodel).name}"


def _min_similarity(blocks: list[dict], key: str, output_names: list[str]):
    values = [b[key] for b in blocks if key in b and b["tensor"].startswith(tuple(output_names))]
    return round(min(values), 6) if values else None


def candidate_table(candidates: dict[str, tuple[dict, dict]], reference: dict, output_names: list[str]) -> list[dict]:
    """One row per recipe: what it is, its device-decoded accuracy and drop from the float
    model's (`reference`), the tools' similarity, and its cost."""
    rows = []
    for name, (report, metrics) in candidates.items():
        recipe, deploy = report["recipe"], report["similarity"]["deploy"]
        rows.append(
            {
                "recipe": name,
                "precision": recipe["precision"],
                "calibration": recipe["calibration"] if recipe["precision"] == "INT8" else None,
                "bf16_layers": recipe["bf16_layers"],
                "box": {k: metrics["box"][k] for k in ("mAP50", "mAP50-95")},
                "pose": {k: metrics["pose"][k] for k in ("mAP50", "mAP50-95")},
                "pose_mAP50-95_drop": round(reference["pose"]["mAP50-95"] - metrics["pose"]["mAP50-95"], 6),
                "cosine": _min_similarity(deploy, "cosine", output_names),
                "euclidean": _min_similarity(deploy, "euclidean", output_names),
                "similarity_passed": report["similarity_passed"],
                "bf16_layer_count": len(report["bf16"]["layers"]),
                "bf16_share": report["bf16"]["elements_share"],
                "size_bytes": report["size_bytes"],
            }
        )
    return rows


def choose(rows: list[dict], max_accuracy_drop: float, if_none_within_gate: str) -> tuple[dict, str]:
    """The cheapest candidate within the gate, and why it was taken.

    Cost: the share of computed elements in BF16, then the cvimodel's size. TPU-MLIR reports no
    cycles for cv181x without a device; on that TPU a BF16 op moves twice the bytes of an INT8
    one and runs at a fraction of its rate, so the BF16 share orders the candidates as their
    speed would (plain INT8 first, BF16 throughout last). Among equal costs the more accurate
    wins. The gate: pose mAP50-95 at most `max_accuracy_drop` under the float model's, and the
    tools' similarity check passed."""
    by_cost = sorted(rows, key=lambda r: (r["bf16_share"], r["size_bytes"], -r["pose"]["mAP50-95"], r["recipe"]))
    for row in by_cost:
        row["within_gate"] = row["similarity_passed"] and row["pose_mAP50-95_drop"] <= max_accuracy_drop
    within = [row for row in by_cost if row["within_gate"]]
    if within:
        return within[0], f"the cheapest of {len(within)} within the gate"
    if if_none_within_gate == "most_accurate":
        best = max(rows, key=lambda r: (r["pose"]["mAP50-95"], -r["bf16_share"]))
        log.warning("no candidate within max_accuracy_drop %s: shipping the most accurate, as asked", max_accuracy_drop)
        return best, "no candidate within the gate: the most accurate (quantize.if_none_within_gate)"
    raise PosepipeError(
        f"quantize: no recipe's cvimodel is within max_accuracy_drop {max_accuracy_drop} of the float model's pose "
        f"mAP50-95 with its similarity check passed: {'; '.join(table_line(r) for r in by_cost)} "
        "(raise quantize.max_accuracy_drop, add a recipe with more BF16, or set if_none_within_gate: most_accurate)"
    )


def table_line(row: dict) -> str:
    return (
        f"{row['recipe']}: pose mAP50-95 {row['pose']['mAP50-95']:.3f} (drop {row['pose_mAP50-95_drop']:+.3f}), "
        f"similarity {'passed' if row['similarity_passed'] else 'missed'}, BF16 share {row['bf16_share']:.3f}, "
        f"{row['size_bytes']} bytes"
    )


def select(
    *,
    transform_json: Path,
    candidates: dict[str, tuple[Path, Path, Path]],
    reference_metrics: Path,
    max_accuracy_drop: float,
    if_none_within_gate: str,
    out_cvimodel: Path,
    out_report: Path,
    out_metrics: Path,
) -> dict:
    """Choose among the candidates (recipe -> cvimodel, report, metrics), copy the chosen one
    out, and write the quantization report (every candidate side by side) and its metrics."""
    transformed = json.loads(Path(transform_json).read_text())
    loaded = {
        name: (json.loads(Path(report).read_text()), json.loads(Path(metrics).read_text()))
        for name, (_, report, metrics) in candidates.items()
    }
    rows = candidate_table(
        loaded, json.loads(Path(reference_metrics).read_text()), transformed["settings"]["output_names"]
    )
    chosen, reason = choose(rows, max_accuracy_drop, if_none_within_gate)
    for row in rows:
        log.info("%s%s", table_line(row), "  <- chosen" if row is chosen else "")
    name = chosen["recipe"]
    report = {
        **{k: transformed[k] for k in ("model", "tpu_mlir_version", "runner", "settings", "test_image")},
        "recipe": loaded[name][0]["recipe"],
        "calibration_images": loaded[name][0].get("calibration_images", []),
        "chosen": {"recipe": name, "reason": reason},
        "gate": {"max_accuracy_drop": max_accuracy_drop, "reference": "device_float pose mAP50-95"},
        "candidates": rows,
        "similarity": {"transform": transformed["similarity"], "deploy": loaded[name][0]["similarity"]["deploy"]},
        "bf16_layers": loaded[name][0]["bf16"]["layers"],
    }
    shutil.copyfile(candidates[name][0], out_cvimodel)
    Path(out_metrics).write_text(json.dumps({**loaded[name][1], "recipe": name}, indent=1) + "\n")
    Path(out_report).write_text(json.dumps(report, indent=1) + "\n")
    return report
