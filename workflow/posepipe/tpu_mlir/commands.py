"""TPU-MLIR's command lines: what each tool is told, built from the checked settings and a
quantization recipe (the config schema checked every value first: the tools answer malformed
ones with tracebacks or LLVM assertion dumps)."""

from dataclasses import dataclass

from posepipe.device import input_contract
from posepipe.infra.errors import PosepipeError
from posepipe.infra.schema import with_defaults


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


# The config's quantize keys that model_transform is told (the input's mean, scale and pixel
# format are posepipe.device.input_contract's; the rest comes from the model and its pruned graph): a
# change to one reruns every candidate.
CONFIGURED_KEYS = ("processor", "transform_tolerance", "tpu_mlir_version")
_NUMBER_LISTS = {"transform_tolerance"}


def settings_for_tools(
    raw: dict, model_name: str, height: int, width: int, output_names: list[str]
) -> QuantizeSettings:
    """What the tools are told. The config schema has checked every configured value (the tools
    answer malformed ones with tracebacks or LLVM assertion dumps); the output names come from
    the pruned graph, and go into a comma-separated argument."""
    if len(output_names) != 3 or any("," in name for name in output_names):
        raise PosepipeError(f"pruned outputs {output_names}: expected three names without commas")
    configured = {
        key: tuple(map(float, raw[key])) if key in _NUMBER_LISTS else str(raw[key]) for key in CONFIGURED_KEYS
    }
    return QuantizeSettings(
        model_name=model_name,
        height=height,
        width=width,
        output_names=tuple(output_names),
        mean=input_contract.MEAN,
        scale=input_contract.SCALE,
        pixel_format=input_contract.PIXEL_FORMAT,
        **{key: configured[key] for key in CONFIGURED_KEYS},
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
    """One candidate way to quantize (config quantize.recipes); the schema checked each value and
    holds each default (infra.schema)."""

    name: str
    precision: str  # INT8, or BF16 throughout
    calibration: str  # run_calibration --cali_method
    bf16_layers: str  # none, search (search_qtable), head (fp_forward from head_from)
    head_from: tuple[str, ...]  # MLIR layers; none given: the keypoint head's last convolutions
    expected_cos: float  # search_qtable: the output cosine to reach
    max_float_layers: int  # search_qtable: at most this many layers in BF16

    @classmethod
    def from_config(cls, entry: dict) -> "Recipe":
        """A recipe as the config gives it; keys it leaves out take the schema's defaults."""
        entry = with_defaults(entry, "recipe")
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


def codegen_args(final_mlir: str, model_file: str) -> list[str]:
    """The cvimodel generated again from a final MLIR, as model_deploy generates it for cv18xx."""
    options = f"model_file={model_file} embed_debug_info=False model_version=latest bmodel_only=False"
    return ["tpuc-opt", final_mlir, f"--codegen={options} gdma_check=True rvti=False", "-o", "/dev/null"]
