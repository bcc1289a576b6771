"""The ONNX cut to exactly the three tensors the MaixCAM runtime reads, found by role.

MaixPy's documentation cuts at `/model.22/Concat_output_0` for the keypoints; in Ultralytics
8.4 that tensor is the box DFL logits (the keypoints are `Concat_2`), and YOLO11 uses
`/model.23/`. Names are therefore never trusted: the tensors are found by what produces them
and by their shapes, the cut model is checked numerically against the full one, and decoding
the cut outputs must give back the full model's `output0`.
"""

import ast
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from posepipe.dataset import images
from posepipe.device import decoder, input_contract
from posepipe.infra.errors import PosepipeError
from posepipe.training.ultralytics_env import keep_caches_in

log = logging.getLogger("posepipe.training.prune")

ROLES = ("dfl", "scores", "keypoints")
OUTPUTS_TOLERANCE = 1e-5  # cut outputs against the same tensors of the full model
OUTPUT0_TOLERANCE = 1e-3  # decoded cut outputs against the full model's output0 (pixels)


@dataclass(frozen=True)
class Head:
    """What the cut needs to know about a pose model's ONNX."""

    height: int
    width: int
    num_classes: int
    keypoints: int  # K
    keypoint_dims: int

    @property
    def anchors(self) -> int:
        return decoder.anchor_count(self.height, self.width)

    def expected_shapes(self) -> dict[str, list[int]]:
        n = self.anchors
        return {"dfl": [1, 1, 4, n], "scores": [1, self.num_classes, n], "keypoints": [1, 3 * self.keypoints, n]}


def read_head(model, path: Path) -> Head:
    """Input size from the graph, classes and keypoint shape from Ultralytics' metadata; refuse
    what the device would misread."""
    metadata = {p.key: p.value for p in model.metadata_props}
    try:
        names = ast.literal_eval(metadata["names"])
        kpt_shape = ast.literal_eval(metadata["kpt_shape"])
    except (KeyError, ValueError, SyntaxError):
        raise PosepipeError(f"{path}: no Ultralytics 'names'/'kpt_shape' metadata: is this a pose export?") from None
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    if len(dims) != 4 or min(dims) <= 0:
        raise PosepipeError(f"{path}: input shape {dims} is not a static [1, 3, H, W]")
    head = Head(dims[2], dims[3], len(names), int(kpt_shape[0]), int(kpt_shape[1]))
    if head.keypoint_dims != 3:
        raise PosepipeError(
            f"{path}: kpt_shape {list(kpt_shape)}: the MaixCAM runtime reads keypoints as (x, y, visibility), "
            "so it needs kpt_shape [K, 3]"
        )
    return head


def pad_scores(cut, scores_name: str, head: Head) -> str:
    """Append one constant-zero channel to the scores output (after the sigmoid): the runtime
    takes its class count from the .mud's labels and argmax keeps the first maximum, so the
    channel is never reported. Returns the padded output's name."""
    from onnx import TensorProto, helper, numpy_helper

    zeros = numpy_helper.from_array(np.zeros((1, 1, head.anchors), np.float32), "posepipe_zero_score_channel")
    padded = f"{scores_name}_padded"
    cut.graph.initializer.append(zeros)
    cut.graph.node.append(helper.make_node("Concat", [scores_name, zeros.name], [padded], axis=1, name=padded))
    shape = [1, head.num_classes + decoder.score_padding(head.num_classes), head.anchors]
    outputs = [
        helper.make_tensor_value_info(padded, TensorProto.FLOAT, shape) if o.name == scores_name else o
        for o in cut.graph.output
    ]
    del cut.graph.output[:]
    cut.graph.output.extend(outputs)
    return padded


def _shapes(model) -> dict[str, list[int]]:
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model)
    values = list(inferred.graph.value_info) + list(inferred.graph.output)
    return {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in values}


def discover(model, head: Head, path: Path) -> dict[str, str]:
    """The tensor of each role, by producer and shape:
    dfl: a Conv fed by a Softmax (the DFL expectation), [1, 1, 4, N];
    scores: a Sigmoid, [1, nc, N] (the keypoint visibility Sigmoid is 4-D);
    keypoints: a Concat of the per-level keypoint maps, [1, 3K, N] (the box logits are [1, 64, N])."""
    shapes = _shapes(model)
    producer = {output: node for node in model.graph.node for output in node.output}
    expected = head.expected_shapes()

    def fed_by(node, op_type: str) -> bool:
        return any(producer.get(name) is not None and producer[name].op_type == op_type for name in node.input)

    tests = {
        "dfl": lambda node: node.op_type == "Conv" and fed_by(node, "Softmax"),
        "scores": lambda node: node.op_type == "Sigmoid",
        "keypoints": lambda node: node.op_type == "Concat",
    }
    found = {}
    for role in ROLES:
        matches = [
            output
            for node in model.graph.node
            if tests[role](node)
            for output in node.output
            if shapes.get(output) == expected[role]
        ]
        if len(matches) != 1:
            raise PosepipeError(
                f"{path}: {len(matches)} candidates for the {role} output {expected[role]} "
                f"({', '.join(matches) or 'none'}); name it under the model's prune_outputs in the config"
            )
        found[role] = matches[0]
    return found


def _session(model):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1  # the checks are small; stay reproducible
    return onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _expose(model, names: list[str]):
    """A copy of the model with the named intermediate tensors as extra outputs."""
    import onnx

    exposed = onnx.ModelProto()
    exposed.CopyFrom(model)
    present = {o.name for o in exposed.graph.output}
    exposed.graph.output.extend(onnx.ValueInfoProto(name=n) for n in names if n not in present)
    return exposed


def reference_output0(dfl: np.ndarray, scores: np.ndarray, keypoints: np.ndarray, head: Head) -> np.ndarray:
    """What the full model's output0 [1, 4 + nc + 3K, N] holds, computed from the three cut tensors."""
    gx, gy, strides = decoder.anchors(head.height, head.width)
    ax, ay = gx + 0.5, gy + 0.5
    left, top, right, bottom = dfl.reshape(4, -1)
    boxes = np.stack(
        [
            (ax + (right - left) / 2) * strides,
            (ay + (bottom - top) / 2) * strides,
            (left + right) * strides,
            (top + bottom) * strides,
        ]
    )
    kpts = keypoints.reshape(head.keypoints, 3, -1)
    decoded = np.stack(
        [(2 * kpts[:, 0] + ax - 0.5) * strides, (2 * kpts[:, 1] + ay - 0.5) * strides, 1 / (1 + np.exp(-kpts[:, 2]))],
        axis=1,
    )
    return np.concatenate([boxes, scores.reshape(head.num_classes, -1), decoded.reshape(3 * head.keypoints, -1)])[None]


def check_cut(full, cut, names: dict[str, str], head: Head, image: np.ndarray, cut_names=None) -> dict[str, float]:
    """The cut outputs equal the full model's tensors and decode back to its output0, on `image`.
    `cut_names`: the cut's output of each role where it differs (the padded scores), whose
    extra channels must be exactly zero."""
    cut_names = {**names, **(cut_names or {})}
    inputs = {"images": input_contract.to_input(input_contract.letterbox(image, head.height, head.width))}
    exposed = _expose(full, list(names.values()))
    full_session = _session(exposed)
    wanted = ["output0", *names.values()]
    full_values = dict(zip(wanted, full_session.run(wanted, inputs)))
    cut_outputs = dict(zip(ROLES, _session(cut).run([cut_names[role] for role in ROLES], inputs)))
    padding = cut_outputs["scores"][:, head.num_classes :]
    if padding.size and np.any(padding != 0):
        raise PosepipeError(f"the padded score channels are not zero (largest {float(np.abs(padding).max()):.2e})")
    cut_values = {**cut_outputs, "scores": cut_outputs["scores"][:, : head.num_classes]}
    worst_tensor = max(float(np.abs(cut_values[role] - full_values[names[role]]).max()) for role in ROLES)
    if worst_tensor > OUTPUTS_TOLERANCE:
        raise PosepipeError(
            f"the cut outputs differ from the full model's by {worst_tensor:.2e} (> {OUTPUTS_TOLERANCE})"
        )
    rebuilt = reference_output0(*(cut_values[role] for role in ROLES), head)
    worst_output0 = float(np.abs(rebuilt - full_values["output0"]).max())
    if worst_output0 > OUTPUT0_TOLERANCE:
        raise PosepipeError(
            f"decoding the cut outputs differs from the full model's output0 by {worst_output0:.2e} "
            f"(> {OUTPUT0_TOLERANCE}): the three tensors are not the ones the device needs"
        )
    return {"max_abs_diff_outputs": worst_tensor, "max_abs_diff_output0": worst_output0}


def _output_names(full, head, onnx_path: Path, explicit: dict[str, str] | None) -> dict[str, str]:
    """The three tensors the runtime reads, by role: the config's, or found by role in the graph;
    each checked against the shape the runtime expects."""
    names = dict(explicit) if explicit else discover(full, head, onnx_path)
    shapes = _shapes(full)
    for role in ROLES:
        if shapes.get(names[role]) != head.expected_shapes()[role]:
            raise PosepipeError(
                f"{onnx_path}: {role} output '{names[role]}' has shape {shapes.get(names[role])}, "
                f"expected {head.expected_shapes()[role]}"
            )
    return names


def _description(onnx_path: Path, head, names: dict, cut_names: dict, padding: int, found_by: str) -> dict:
    """What the pruned model is: its input, its outputs by role and where they were cut."""
    shapes = head.expected_shapes()
    shapes["scores"] = [1, head.num_classes + padding, head.anchors]
    return {
        "source": Path(onnx_path).name,
        "input": {"name": "images", "shape": [1, 3, head.height, head.width]},
        "outputs": [
            {"role": role, "name": cut_names.get(role, names[role]), "shape": shapes[role]}
            | ({"padded_from": names[role]} if role in cut_names else {})
            for role in ROLES
        ],
        "found_by": found_by,
        "num_classes": head.num_classes,
        # constant-zero score channels after the nc real ones, so that the runtime, which takes
        # any output of a multiple of 3 channels for the keypoints, tells the scores apart
        "score_padding": padding,
        "kpt_shape": [head.keypoints, head.keypoint_dims],
    }


def prune(
    *,
    onnx_path: Path,
    out_onnx: Path,
    out_json: Path,
    check_image: Path,
    explicit: dict[str, str] | None,
    state_dir: Path | None = None,
) -> dict:
    """Cut, simplify, pad the scores where the device needs it, check, and write the pruned
    ONNX and its JSON description."""
    if state_dir:
        keep_caches_in(state_dir)
    import onnx
    import onnxsim

    full = onnx.load(str(onnx_path))
    head = read_head(full, onnx_path)
    names = _output_names(full, head, onnx_path, explicit)
    cut = onnx.utils.Extractor(full).extract_model(["images"], [names[role] for role in ROLES])
    cut, simplified = onnxsim.simplify(cut)
    if not simplified:
        raise PosepipeError(f"{onnx_path}: onnxsim could not validate the simplified cut model")
    padding = decoder.score_padding(head.num_classes)
    cut_names = {"scores": pad_scores(cut, names["scores"], head)} if padding else {}
    onnx.checker.check_model(cut, full_check=True)
    check = check_cut(full, cut, names, head, images.read_rgb(check_image), cut_names)
    for prop in full.metadata_props:  # keep Ultralytics' description of the model
        cut.metadata_props.add(key=prop.key, value=prop.value)
    description = _description(onnx_path, head, names, cut_names, padding, "config" if explicit else "role")
    description["check"] = {"image": Path(check_image).name, **check}
    onnx.save(cut, str(out_onnx))
    Path(out_json).write_text(json.dumps(description, indent=1) + "\n")
    log.info("cut %s at %s", onnx_path, ", ".join(f"{r}={names[r]}" for r in ROLES))
    if padding:
        log.info(
            "%d classes, a multiple of 3: scores padded with %d zero channel (%d channels) for the MaixCAM runtime",
            head.num_classes,
            padding,
            head.num_classes + padding,
        )
    log.info("check on %s: outputs within %.1e, output0 within %.1e", Path(check_image).name, *check.values())
    return description
