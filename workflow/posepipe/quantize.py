"""TPU-MLIR: the pruned ONNX to a MaixCAM (cv181x) cvimodel, INT8 by default.

model_transform -> run_calibration -> model_deploy, in the model's own work folder (some
TPU-MLIR files have fixed names), through a runner: a Python 3.10 virtual environment or a
docker container. Every argument is validated before any tool runs (the tools answer malformed
values with tracebacks or LLVM assertion dumps), the similarity figures the tools print are
parsed into a JSON, and a failed tolerance fails the step with the tensor and the figure.
"""

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from posepipe.errors import PosepipeError

log = logging.getLogger("posepipe.quantize")

PRECISIONS = ("INT8", "BF16")
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
    precision: str
    bf16_fallback: bool
    calibration_images: int
    transform_tolerance: tuple[float, float]
    deploy_tolerance: tuple[float, float]
    tpu_mlir_version: str


def _tolerance(value, key: str) -> tuple[float, float]:
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 1 for v in value)
    ):
        raise PosepipeError(f"config: quantize: {key}: {value!r} is not two numbers in (0, 1] (cosine, euclidean)")
    return float(value[0]), float(value[1])


def validate_settings(raw: dict, model_name: str, height: int, width: int, output_names: list[str]) -> QuantizeSettings:
    """Check every value the tools will see; one line naming the key on any fault."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", model_name):
        raise PosepipeError(f"config: model name '{model_name}' has characters TPU-MLIR file names cannot hold")
    if height % 32 or width % 32 or height <= 0 or width <= 0:
        raise PosepipeError(f"config: imgsz [{height}, {width}] is not a multiple of 32")
    for key in ("mean", "scale"):
        value = raw[key]
        if len(value) != 3 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            raise PosepipeError(f"config: quantize: {key}: {value!r} is not three numbers")
    if raw["pixel_format"] not in ("rgb", "bgr"):
        raise PosepipeError(f"config: quantize: pixel_format: {raw['pixel_format']!r} is not rgb or bgr")
    precision = str(raw["precision"]).upper()
    if precision not in PRECISIONS:
        raise PosepipeError(f"config: quantize: precision: {raw['precision']!r} is not one of {', '.join(PRECISIONS)}")
    count = raw["calibration_images"]
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise PosepipeError(f"config: quantize: calibration_images: {count!r} is not a positive whole number")
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
        precision=precision,
        bf16_fallback=bool(raw["bf16_fallback"]),
        calibration_images=count,
        transform_tolerance=_tolerance(raw["transform_tolerance"], "transform_tolerance"),
        deploy_tolerance=_tolerance(raw["deploy_tolerance"], "deploy_tolerance"),
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


def calibration_args(s: QuantizeSettings, calibration_dir: str, count: int) -> list[str]:
    return [
        "run_calibration.py", f"{s.model_name}.mlir",
        "--dataset", calibration_dir,
        "--input_num", str(count),
        "-o", f"{s.model_name}_cali_table",
    ]  # fmt: skip


def deploy_args(s: QuantizeSettings, precision: str, model_file: str) -> list[str]:
    args = ["model_deploy.py", "--mlir", f"{s.model_name}.mlir", "--quantize", precision]
    if precision == "INT8":
        args += ["--quant_input", "--calibration_table", f"{s.model_name}_cali_table"]
    return args + [
        "--processor", s.processor,
        "--test_input", f"{s.model_name}_in_f32.npz",
        "--test_reference", f"{s.model_name}_top_outputs.npz",
        "--tolerance", _numbers(s.deploy_tolerance),
        "--model", model_file,
    ]  # fmt: skip


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


@dataclass
class Runner:
    """How the TPU-MLIR tools run: `venv` or `conda` (a Python 3.10 environment), or `docker`."""

    kind: str
    location: str  # the environment's folder, or the image tag

    def command(self, args: list[str], work_dir: Path) -> tuple[list[str], dict]:
        env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
        if self.kind in ("venv", "conda"):
            bin_dir = Path(self.location) / "bin"
            # the tools start each other by name: the environment's bin comes first on PATH
            env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
            env["VIRTUAL_ENV"] = str(self.location)
            return [str(bin_dir / args[0]), *args[1:]], env
        if self.kind == "docker":
            # inputs are copied into the work folder first, so it is the one mount
            mounts = [f"--volume={Path(work_dir).resolve()}:/work"]
            argv = [
                "docker", "run", "--rm", "--network", "none", "--user", f"{os.getuid()}:{os.getgid()}",
                "--env", f"OMP_NUM_THREADS={env['OMP_NUM_THREADS']}", "--env", "HOME=/work",
                *mounts, "--workdir", "/work", self.location, *args,
            ]  # fmt: skip
            return argv, {**os.environ}
        raise PosepipeError(f"unknown TPU-MLIR runner '{self.kind}'")


def run_tool(runner: Runner, args: list[str], work_dir: Path, log_file: Path) -> tuple[str, float]:
    """Run one tool in `work_dir`; its whole output goes to `log_file`. Returns (output, seconds)."""
    argv, env = runner.command(args, work_dir)
    log.info("running %s", " ".join(args[:1] + [a if " " not in a else repr(a) for a in args[1:]]))
    began = time.perf_counter()
    result = subprocess.run(argv, cwd=work_dir, env=env, capture_output=True, text=True)
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


def quantize(
    pruned_onnx: Path,
    pruned_json: Path,
    val_images: list[Path],
    settings_raw: dict,
    model_name: str,
    imgsz: list[int],
    runner: Runner,
    work_dir: Path,
    out_cvimodel: Path,
    out_report: Path,
) -> dict:
    """Run the three tools and write the cvimodel and a report of what was done and measured."""
    description = json.loads(Path(pruned_json).read_text())
    output_names = [o["name"] for o in description["outputs"]]
    s = validate_settings(settings_raw, model_name, imgsz[0], imgsz[1], output_names)
    if not val_images:
        raise PosepipeError("quantize: the val split has no image for calibration")
    work_dir = Path(work_dir).resolve()
    shutil.rmtree(work_dir, ignore_errors=True)
    (work_dir / "calibration").mkdir(parents=True)
    calibration = calibration_set(val_images, s.calibration_images)
    for index, image in enumerate(calibration):  # copies: the work folder is mounted into containers
        shutil.copyfile(image, work_dir / "calibration" / f"{index:05d}{image.suffix.lower()}")
    test_image = f"test{val_images[0].suffix.lower()}"
    shutil.copyfile(val_images[0], work_dir / test_image)
    shutil.copyfile(pruned_onnx, work_dir / "model.onnx")
    logs = work_dir / "logs"
    logs.mkdir()

    similarity, seconds = {}, {}
    output, seconds["transform"] = run_tool(
        runner, transform_args(s, "model.onnx", test_image), work_dir, logs / "transform.log"
    )
    similarity["transform"] = parse_similarity(output)
    precision = s.precision
    if precision == "INT8":
        output, seconds["calibration"] = run_tool(
            runner, calibration_args(s, "calibration", len(calibration)), work_dir, logs / "calibration.log"
        )
    model_file = f"{s.model_name}_{precision.lower()}.cvimodel"
    try:
        output, seconds["deploy"] = run_tool(
            runner, deploy_args(s, precision, model_file), work_dir, logs / "deploy.log"
        )
    except ToleranceError as error:
        if not (precision == "INT8" and s.bf16_fallback):
            raise
        log.warning("INT8 missed its tolerance (%s): deploying BF16 instead, as bf16_fallback asks", error)
        similarity["deploy_int8_failed"] = parse_similarity((logs / "deploy.log").read_text())
        precision = "BF16"
        model_file = f"{s.model_name}_bf16.cvimodel"
        output, seconds["deploy"] = run_tool(
            runner, deploy_args(s, precision, model_file), work_dir, logs / "deploy.log"
        )
    similarity["deploy"] = parse_similarity(output)
    partial = work_dir / f"{model_file}.fixed"
    partial.write_bytes(fixed_build_time((work_dir / model_file).read_bytes()))
    shutil.move(partial, out_cvimodel)  # a rename where the work folder shares its file system
    report = {
        "model": s.model_name,
        "precision": precision,
        "cvimodel": Path(out_cvimodel).name,
        "tpu_mlir_version": s.tpu_mlir_version,
        "runner": {"kind": runner.kind, "location": runner.location},
        "settings": {k: v for k, v in asdict(s).items() if k not in ("model_name", "tpu_mlir_version")},
        "calibration_images": [p.name for p in calibration],
        "test_image": val_images[0].name,
        "similarity": similarity,
    }
    Path(out_report).write_text(json.dumps(report, indent=1) + "\n")
    log.info("step times: %s", ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items()))
    return report
