"""The model's page of `snakemake --report`: one reStructuredText summary per model that the
report's front page includes (workflow/report/workflow.rst). Metrics side by side, the pruned
graph's outputs, the quantization similarities, the training curves and val images with what
the device-faithful decoder finds drawn on them; images are embedded, so the page stands alone."""

import io
from pathlib import Path

import numpy as np

from posepipe.dataset.val_inputs import device_inputs
from posepipe.device import decoder
from posepipe.packaging.report_keypoints import keypoint_header, keypoint_rows, sigmas_note
from posepipe.packaging.report_tables import (
    CANDIDATE_HEADER,
    candidate_rows,
    device_rows,
    embedded_png,
    folded,
    list_table,
    metrics_rows,
    similarity_rows,
    threshold_header,
    threshold_rows,
)
from posepipe.training.validate import DECODED_SOURCES

GRID_COLUMNS = 4
THUMB_WIDTH = 320


def thresholds_png(metrics: dict) -> bytes:
    """The detection F1 by conf_th and the keypoint F1 by keypoint_th, with their intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5), dpi=110)
    for ax, (curve, name) in zip(axes, (("conf_th_curve", "conf_th"), ("keypoint_th_curve", "keypoint_th"))):
        for source in DECODED_SOURCES:
            if source in metrics:
                points = metrics[source][curve]
                x = [p[name] for p in points]
                line = ax.plot(x, [p["f1"] for p in points], marker="o", markersize=3, label=source)[0]
                low, high = zip(*(p["f1_interval"] for p in points))
                ax.fill_between(x, low, high, color=line.get_color(), alpha=0.15)
                chosen = metrics[source]["thresholds"][name]
                ax.axvline(chosen, color=line.get_color(), linestyle=":", linewidth=1)
        ax.set_xlabel(name)
        ax.set_ylabel("detection F1" if name == "conf_th" else "keypoint F1")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def thresholds_note(metrics: dict) -> str:
    shipped = metrics["cvimodel"]["thresholds"]
    return (
        f"The app draws a detection above conf_th {shipped['conf_th']} ({shipped['conf_th_from']}: detection F1 "
        f"{shipped['detection_f1']:.3f}) and a keypoint above keypoint_th {shipped['keypoint_th']} "
        f"({shipped['keypoint_th_from']}: keypoint F1 {shipped['keypoint_f1']:.3f}), "
        f"NMS at iou_th {shipped['iou_th']}. "
        "F1 is chosen on, not pose mAP: OKS ignores keypoints the ground truth leaves unlabelled, so pose mAP "
        "can only fall as keypoint_th rises. Intervals: 95%, bootstrap over the val images.\n"
    )


def padding_note(pruned: dict) -> str:
    if not pruned["score_padding"]:
        return f"{pruned['num_classes']} score channels, one per class.\n"
    return (
        f"{pruned['num_classes']} classes, a multiple of 3: the scores carry {pruned['score_padding']} "
        "constant-zero channel more, so that the MaixCAM runtime, which takes any output of a multiple "
        "of 3 channels for the keypoints, tells them apart; the .mud lists a label for it, never reported.\n"
    )


def speed_note(quantize_report: dict, measured_fps: float | None) -> str:
    """What the estimate is, and a user's own measurement beside it where the config has one."""
    speed = quantize_report["speed_model"]
    shipped = next(r for r in quantize_report["candidates"] if r["recipe"] == quantize_report["chosen"]["recipe"])
    note = (
        f"Estimated on the device: {shipped['estimated_ms']:.1f} ms a frame ({shipped['estimated_fps']:.0f} fps), an "
        f"estimate from {speed['estimate']} ({speed['points']} points; leave-one-out error up to "
        f"{speed['leave_one_out_max_error']:.0%}). Source: {speed['source']}."
    )
    if measured_fps:
        note += f" Measured on a device (config ``measured_fps``): {measured_fps:g} fps."
    return note + "\n"


def quantization_note(quantize_report: dict) -> str:
    gate = quantize_report["gate"]
    return (
        f"Quantization with TPU-MLIR {quantize_report['tpu_mlir_version']}: recipe "
        f"``{quantize_report['chosen']['recipe']}`` shipped, {quantize_report['chosen']['reason']} (pose mAP50-95 "
        f"at most {gate['max_accuracy_drop']} under the pruned float model's, the worst keypoint's PCK at 0.1 at most "
        f"{gate['max_keypoint_drop']} under its, similarity check passed; cheapest by estimated time on the "
        "device, then size).\n"
    )


def keypoint_table(model: str, metrics: dict, quantize_report: dict) -> str:
    return list_table(
        f"{model}: each keypoint, the float model against every candidate (device decoder; PCK at a share of "
        "the object's size, the square root of its box's area; the worst drop of each candidate in bold)",
        keypoint_header(quantize_report),
        keypoint_rows(metrics, quantize_report),
    )


def device_section(model: str, metrics: dict, quantize_report: dict, curves_png: bytes, grid_png: bytes, fps) -> list:
    """What a user acts on first: what the device will show, then the pictures, large."""
    shipped = metrics["cvimodel"]["thresholds"]
    header = ["model", "box mAP50", "pose mAP50-95 [95% interval]", "pose mAP50-95, every keypoint drawn"]
    return [
        list_table(
            f"{model}: what the device will show (device decoder on the val images)",
            [*header, "conf_th", "keypoint_th", "estimated fps"],
            device_rows(metrics, quantize_report),
        ),
        speed_note(quantize_report, fps),
        f"Val images of {model} through the pruned ONNX and the device decoder, at the app's thresholds "
        f"(score > {shipped['conf_th']}, keypoints > {shipped['keypoint_th']}):\n",
        embedded_png(f"{model} predictions", grid_png),
        thresholds_note(metrics),
        embedded_png(f"{model} F1 by threshold", thresholds_png(metrics)),
        f"Training curves of {model}:\n",
        embedded_png(f"{model} training curves", curves_png),
    ]


def figures_section(model: str, metrics: dict, quantize_report: dict) -> list:
    """Every source's figures with what each is, the candidates, and each keypoint."""
    return [
        list_table(
            f"{model}: metrics on the val images",
            ["source", "what it is", "images", "box mAP50", "box mAP50-95", "pose mAP50", "pose mAP50-95"],
            metrics_rows(metrics),
        ),
        sigmas_note(metrics),
        quantization_note(quantize_report),
        list_table(
            f"{model}: quantization candidates (device decoder on the TPU-MLIR simulator's outputs)",
            CANDIDATE_HEADER,
            candidate_rows(quantize_report),
        ),
        keypoint_table(model, metrics, quantize_report),
    ]


def folded_section(model: str, metrics: dict, pruned: dict, quantize_report: dict) -> list:
    """The long tables, folded: every threshold of the F1 curves, the pruned graph, the similarities."""
    curves = [
        list_table(
            f"{model}: detections by conf_th (device decoder)",
            threshold_header(metrics, "conf_th", with_pose=False),
            threshold_rows(metrics, "conf_th_curve", "conf_th"),
        ),
        list_table(
            f"{model}: keypoints by keypoint_th (device decoder, detections shown at the app's conf_th)",
            threshold_header(metrics, "keypoint_th", with_pose=True),
            threshold_rows(metrics, "keypoint_th_curve", "keypoint_th"),
        ),
    ]
    graph = [
        list_table(
            f"{model}: outputs of the pruned graph (what MaixCAM reads)",
            ["role", "tensor", "shape"],
            [[o["role"], f"``{o['name']}``", "x".join(map(str, o["shape"]))] for o in pruned["outputs"]],
        ),
        padding_note(pruned),
        list_table(
            f"{model}: quantization similarity",
            ["step", "tensor", "cosine", "euclidean", "verdict"],
            similarity_rows(quantize_report, [o["name"] for o in pruned["outputs"]]),
        ),
    ]
    return [
        folded("Every threshold: the F1 curves' tables", "\n".join(curves)),
        folded("The pruned graph and the tools' similarity checks", "\n".join(graph)),
    ]


def summary_rst(
    model: str,
    metrics: dict,
    pruned: dict,
    quantize_report: dict,
    curves_png: bytes,
    grid_png: bytes,
    measured_fps: float | None = None,
):
    title = f"Model {model}"
    parts = [
        f"{title}\n{'=' * len(title)}\n",
        *device_section(model, metrics, quantize_report, curves_png, grid_png, measured_fps),
        *figures_section(model, metrics, quantize_report),
        *folded_section(model, metrics, pruned, quantize_report),
    ]
    return "\n".join(parts)


def prediction_grid(pruned_onnx: Path, dataset_dir: Path, count: int, thresholds: dict) -> bytes:
    """The first `count` val images with the boxes and keypoints the app would draw at
    `thresholds` (metrics.json's, of the shipped cvimodel), as one PNG."""
    import onnxruntime
    from PIL import Image, ImageDraw

    session = onnxruntime.InferenceSession(str(pruned_onnx), providers=["CPUExecutionProvider"])
    height, width = session.get_inputs()[0].shape[2:]
    names = [o.name for o in session.get_outputs()]
    thumbs = []
    for index, (path, size, array) in enumerate(device_inputs(dataset_dir, height, width)):
        if index == count:
            break
        detections = decoder.decode(
            session.run(names, {"images": array}), (height, width), size,
            **{key: thresholds[key] for key in ("conf_th", "iou_th", "keypoint_th")},
        )  # fmt: skip
        image = Image.open(path).convert("RGB")
        draw = ImageDraw.Draw(image)
        for d in detections:
            draw.rectangle(d.box_xyxy, outline=(255, 64, 64), width=2)
            points = np.array(d.points, dtype=float).reshape(-1, 2)
            for (x, y), kept in zip(points, d.kept):
                if kept:
                    draw.ellipse((x - 3, y - 3, x + 3, y + 3), fill=(64, 255, 64))
        scale = THUMB_WIDTH / image.width
        thumbs.append(image.resize((THUMB_WIDTH, round(image.height * scale))))
    rows = -(-len(thumbs) // GRID_COLUMNS)
    cell = max(t.height for t in thumbs)
    grid = Image.new("RGB", (THUMB_WIDTH * min(GRID_COLUMNS, len(thumbs)), cell * rows), (255, 255, 255))
    for index, thumb in enumerate(thumbs):
        grid.paste(thumb, ((index % GRID_COLUMNS) * THUMB_WIDTH, (index // GRID_COLUMNS) * cell))
    buffer = io.BytesIO()
    grid.save(buffer, format="PNG")
    return buffer.getvalue()
