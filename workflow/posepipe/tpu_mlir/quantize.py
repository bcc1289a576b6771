"""TPU-MLIR, the stage: the pruned ONNX to MaixCAM (cv181x) cvimodels, one per quantization
recipe, and each through the host simulator on the val images.

model_transform runs once per model (the float MLIR every recipe starts from); each recipe then
runs run_calibration (with a mixed-precision search, or fp_forward for a BF16 head, when it asks)
and model_deploy in a work folder of its own (some TPU-MLIR files have fixed names), through a
runner (tpu_mlir.env). What each tool is told is in tpu_mlir.commands, what it writes is read
back by tpu_mlir.outputs, and which candidate ships is decided in evaluation.selection, on accuracy
measured on every val image, not on the one test image of the tools' own check.
"""

import json
import logging
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np

from posepipe.dataset.val_inputs import device_inputs
from posepipe.device.speed import model_cost
from posepipe.infra.errors import PosepipeError
from posepipe.infra.staging import staged
from posepipe.tpu_mlir.commands import (
    QTABLE,
    QuantizeSettings,
    Recipe,
    calibration_args,
    codegen_args,
    deploy_args,
    head_args,
    settings_for_tools,
    transform_args,
)
from posepipe.tpu_mlir.env import Runner, ToleranceError, run_tool
from posepipe.tpu_mlir.load_order import canonical_final_mlir
from posepipe.tpu_mlir.outputs import (
    bf16_content,
    fixed_build_time,
    mlir_layers,
    parse_similarity,
    sorted_layer_table,
    without_time_lines,
)

log = logging.getLogger("posepipe.tpu_mlir.quantize")


# The calibration sample's seed: numpy's PCG64 draws the same sample on every machine.
# Runs inside TPU-MLIR's own Python (3.10), never imported here: copied into the work folder.
SIMULATOR_SCRIPT = Path(__file__).with_name("guest") / "cvimodel_runner.py"
CALIBRATION_SEED = 0


def calibration_set(train_images: list[Path], wanted: int) -> list[Path]:
    """`wanted` train images drawn at random with a fixed seed, in their listed order. From the
    train split, never the val split: the gate scores the INT8 candidates on the val images, and
    a model calibrated on them would score better there than on the device's images."""
    if len(train_images) <= wanted:
        if len(train_images) < wanted:
            log.info("calibration: %d images asked for, the train split has %d", wanted, len(train_images))
        return list(train_images)
    drawn = np.random.default_rng(CALIBRATION_SEED).choice(len(train_images), size=wanted, replace=False)
    return [train_images[i] for i in sorted(drawn.tolist())]


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
    report = {"recipe": asdict(recipe), "deploy_tolerance": list(deploy_tolerance), "similarity": {}}
    if recipe.bf16_layers == "search":
        _search_layer_table(s, recipe, calibration_images, runner, work_dir)
    elif recipe.precision == "INT8":
        shutil.copyfile(calibration_table, work_dir / f"{s.model_name}_cali_table")
    if recipe.precision == "INT8":
        report["calibration_images"] = [p.name for p in calibration_images]
    if recipe.bf16_layers == "head":
        report["head_from"] = _head_layer_table(s, recipe, transformed["keypoint_head"], runner, work_dir)
    if recipe.bf16_layers != "none":
        # fp_forward lists its layers in set order: sorted, the same layers give the same cvimodel
        table, report["qtable"] = sorted_layer_table((work_dir / QTABLE).read_text())
        (work_dir / QTABLE).write_text(table)
        (work_dir / "logs" / QTABLE).write_text(table)  # kept with the tool logs
    model_file = f"{s.model_name}_{recipe.name}.cvimodel"
    report["similarity"]["deploy"] = _deploy(s, recipe, model_file, deploy_tolerance, runner, work_dir)
    report["similarity_passed"] = all(b["passed"] for b in report["similarity"]["deploy"])
    deployed = f"{s.model_name}_{s.processor}_"  # model_deploy's file names start so
    _generate_in_load_order(deployed, model_file, runner, work_dir)
    report["bf16"] = bf16_content(work_dir / f"{Path(model_file).stem}_tensor_info.txt")
    report["cost"] = model_cost(work_dir, deployed)  # TPU-MLIR's (posepipe.device.speed)
    cvimodel = fixed_build_time((work_dir / model_file).read_bytes())
    report["size_bytes"] = len(cvimodel)
    with staged(out_cvimodel) as partial:
        partial.write_bytes(cvimodel)
    Path(out_report).write_text(json.dumps(report, indent=1) + "\n")
    return report


def _search_layer_table(
    s: QuantizeSettings, recipe: Recipe, calibration_images: list[Path], runner: Runner, work_dir: Path
) -> None:
    """Calibration with TPU-MLIR's search for the layers to keep in BF16 (search_qtable)."""
    images = copy_calibration_images(calibration_images, work_dir)
    args = calibration_args(s, recipe.calibration, images, len(calibration_images), search=recipe)
    log_file = work_dir / "logs" / "calibration.log"
    try:
        run_tool(runner, args, work_dir, log_file)
    except PosepipeError:
        # a search that misses expected_cos with its first layers renders its layer graph to
        # PDF with Graphviz, under the tpu_mlir wheel's own glib (which needs libpcre3)
        if "gen_dot_graph" in log_file.read_text():
            raise PosepipeError(
                f"quantize.recipes: {recipe.name}: TPU-MLIR's search_qtable could not render its result with "
                f"Graphviz in the {runner.kind} runner (Debian: apt-get install graphviz libpcre3); see {log_file}"
            ) from None
        raise


def _head_layer_table(
    s: QuantizeSettings, recipe: Recipe, keypoint_head: list[str], runner: Runner, work_dir: Path
) -> list[str]:
    """fp_forward's table: the head's layers and all after them in BF16. Returns the layers."""
    head = list(recipe.head_from or keypoint_head)
    if missing := sorted(set(head) - mlir_layers(work_dir / f"{s.model_name}.mlir")):
        raise PosepipeError(
            f"quantize.recipes: {recipe.name}: head_from: no layer {', '.join(missing)} in {s.model_name}.mlir"
        )
    run_tool(runner, head_args(s, head), work_dir, work_dir / "logs" / "fp_forward.log")
    return head


def _deploy(
    s: QuantizeSettings, recipe: Recipe, model_file: str, tolerance: list[float], runner: Runner, work_dir: Path
) -> list[dict]:
    """model_deploy, checked against the float outputs on the test image; on a miss, built
    again unchecked (the val images decide). Returns the similarity blocks of the check."""
    logs = work_dir / "logs"
    try:
        output, _ = run_tool(runner, deploy_args(s, recipe, model_file, tolerance), work_dir, logs / "deploy.log")
        return parse_similarity(output)
    except ToleranceError as error:
        log.warning("%s: %s; building it unchecked: its accuracy on the val images decides", recipe.name, error)
        run_tool(runner, deploy_args(s, recipe, model_file, None), work_dir, logs / "deploy-unchecked.log")
        return parse_similarity((logs / "deploy.log").read_text())


def _generate_in_load_order(prefix: str, model_file: str, runner: Runner, work_dir: Path) -> None:
    """The cvimodel generated again from model_deploy's final MLIR with its loads in one order
    (posepipe.tpu_mlir.load_order), so that a candidate is one file from the docker image and the venv."""
    finals = sorted(work_dir.glob(f"{prefix}*_final.mlir"))
    if len(finals) != 1:
        raise PosepipeError(f"{work_dir}: {len(finals)} files {prefix}*_final.mlir of model_deploy, expected one")
    finals[0].write_text(canonical_final_mlir(finals[0].read_text()))
    run_tool(runner, codegen_args(finals[0].name, model_file), work_dir, work_dir / "logs" / "codegen.log")


def simulate(
    *,
    cvimodel: Path,
    dataset_dir: Path,
    imgsz: list[int],
    shard: tuple[int, int],
    runner: Runner,
    work_dir: Path,
    out_dir: Path,
):
    """The cvimodel through TPU-MLIR's host simulator (model_runner) on shard (index, count) of
    the val images (val_inputs.shard_of), preprocessed as the device does: one .npz of head
    outputs per image in `out_dir`, and index.json naming each one's image and original size."""
    work_dir = fresh_folder(work_dir)
    (work_dir / "inputs").mkdir()
    (work_dir / "outputs").mkdir()
    index = []
    for number, (path, size, array) in enumerate(device_inputs(dataset_dir, *imgsz, shard=tuple(shard))):
        name = f"{number:06d}.npz"
        np.savez(work_dir / "inputs" / name, images=array)
        index.append({"image": path.relative_to(dataset_dir).as_posix(), "size": list(size), "outputs": name})
    if index:  # a shard may be empty where there are more shards than val images
        shutil.copyfile(cvimodel, work_dir / "model.cvimodel")  # copies: the folder is what a container mounts
        shutil.copyfile(SIMULATOR_SCRIPT, work_dir / SIMULATOR_SCRIPT.name)
        simulator = ["python3", "cvimodel_runner.py", "model.cvimodel", "inputs", "outputs"]
        result = runner.run_on_own_cpu(simulator, work_dir)  # its own threads cost more than they give
        (work_dir / "runner.log").write_text(result.stdout + result.stderr)
        if result.returncode != 0:
            raise PosepipeError(f"model_runner on {cvimodel} failed; see {work_dir / 'runner.log'}")
    (work_dir / "outputs" / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    shutil.rmtree(out_dir, ignore_errors=True)
    shutil.move(work_dir / "outputs", out_dir)
    return f"{len(index)} val images (shard {shard[0] + 1} of {shard[1]}) through {Path(cvimodel).name}"
