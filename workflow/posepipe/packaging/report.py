"""The model's page of `snakemake --report`: one reStructuredText summary per model that the
report's front page includes (workflow/report/workflow.rst). Metrics side by side, the pruned
graph's outputs, the quantization similarities, the training curves and val images with what
the device-faithful decoder finds drawn on them; images are embedded, so the page stands alone."""

import base64
import io
from pathlib import Path

import numpy as np

from posepipe.dataset.val_inputs import device_inputs
from posepipe.device import decoder
from posepipe.packaging.report_keypoints import keypoint_header, keypoint_rows, sigmas_note
from posepipe.training.validate import DECODED_SOURCES, METRIC_SOURCES

GRID_COLUMNS = 4
THUMB_WIDTH = 320


def list_table(title: str, header: list[str], rows: list[list]) -> str:
    lines = [f".. list-table:: {title}", "   :header-rows: 1", ""]
    for row in [header, *rows]:
        lines.append(f"   * - {row[0]}")
        lines += [f"     - {cell}" for cell in row[1:]]
    return "\n".join(lines) + "\n"


def figure(value) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def metrics_rows(metrics: dict) -> list[list]:
    columns = [(kind, name) for kind in ("box", "pose") for name in ("mAP50", "mAP50-95")]
    return [
        [label, metrics[key]["images"], *(figure(metrics[key][kind][name]) for kind, name in columns)]
        for key, label in METRIC_SOURCES.items()
        if key in metrics
    ]


CANDIDATE_HEADER = [
    "recipe", "box mAP50", "box mAP50-95", "pose mAP50", "pose mAP50-95", "pose drop [95% interval]",
    "worst keypoint PCK at 0.1 drop [95% interval]",
    "min cosine", "min euclidean", "BF16 layers", "BF16 share", "estimated ms (fps)", "size (bytes)", "shipped",
]  # fmt: skip


def candidate_rows(quantize_report: dict) -> list[list]:
    chosen = quantize_report["chosen"]["recipe"]
    return [
        [
            f"``{row['recipe']}``",
            *(figure(row[part][name]) for part in ("box", "pose") for name in ("mAP50", "mAP50-95")),
            "{} [{:+.3f}, {:+.3f}]".format(figure(row["pose_mAP50-95_drop"]), *row["pose_mAP50-95_drop_interval"]),
            worst_keypoint_cell(row.get("worst_keypoint")),
            figure(row["cosine"]) if row["cosine"] is not None else "",
            figure(row["euclidean"]) if row["euclidean"] is not None else "",
            row["bf16_layer_count"],
            figure(row["bf16_share"]),
            f"{row['estimated_ms']:.1f} ({row['estimated_fps']:.0f})",
            row["size_bytes"],
            "yes"
            if row["recipe"] == chosen
            else ("" if row["within_gate"] else "no: " + "; ".join(row["outside_gate"]).replace("@", " at ")),
        ]
        for row in quantize_report["candidates"]
    ]


def worst_keypoint_cell(worst: dict | None) -> str:
    if not worst:
        return ""
    interval = " [{:+.3f}, {:+.3f}]".format(*worst["drop_interval"]) if worst["drop_interval"] else ""
    return f"{worst['keypoint']} {worst['drop']:+.3f}{interval}"


def similarity_rows(quantize_report: dict, output_names: list[str]) -> list[list]:
    """The compared output tensors of each step (the tools compare every intermediate one too)."""
    return [
        [step, block["tensor"], figure(block.get("cosine", "")), figure(block.get("euclidean", "")), block["verdict"]]
        for step, blocks in quantize_report["similarity"].items()
        for block in blocks
        if block["tensor"].startswith(tuple(output_names))
    ]


def threshold_rows(metrics: dict, curve: str, name: str) -> list[list]:
    """Each threshold of an F1 curve (posepipe.evaluation.thresholds) with every device-decoded source's
    precision, recall, F1 and its 95% interval (and pose mAP50-95 where the curve has it)."""
    sources = [source for source in DECODED_SOURCES if source in metrics]
    rows = []
    for i, point in enumerate(metrics[sources[0]][curve] if sources else []):
        row = [point[name]]
        for source in sources:
            at = metrics[source][curve][i]
            row += [
                figure(at["precision"]),
                figure(at["recall"]),
                "{} [{:.3f}, {:.3f}]".format(figure(at["f1"]), *at["f1_interval"]),
            ]
            row += [figure(at["pose"]["mAP50-95"])] if "pose" in at else []
        rows.append(row)
    return rows


def threshold_header(metrics: dict, name: str, with_pose: bool) -> list[str]:
    parts = ["precision", "recall", "F1 [95% interval]"] + (["pose mAP50-95"] if with_pose else [])
    return [name, *(f"{source} {part}" for source in DECODED_SOURCES if source in metrics for part in parts)]


def thresholds_png(metrics: dict) -> bytes:
    """The detection F1 by conf_th and the keypoint F1 by keypoint_th, with their intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), dpi=100)
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


def embedded_png(title: str, png: bytes) -> str:
    # docutils refuses lines over 10,000 characters; browsers drop the newlines of a data: URL
    data = base64.b64encode(png).decode()
    lines = [data[i : i + 76] for i in range(0, len(data), 76)]
    source = "\n   ".join(["data:image/png;base64,", *lines])
    return f'.. raw:: html\n\n   <figure><img alt="{title}" src="{source}" style="max-width:100%"/></figure>\n'


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
        list_table(
            f"{model}: metrics on the val images",
            ["source", "images", "box mAP50", "box mAP50-95", "pose mAP50", "pose mAP50-95"],
            metrics_rows(metrics),
        ),
        list_table(
            f"{model}: outputs of the pruned graph (what MaixCAM reads)",
            ["role", "tensor", "shape"],
            [[o["role"], f"``{o['name']}``", "x".join(map(str, o["shape"]))] for o in pruned["outputs"]],
        ),
        sigmas_note(metrics),
        padding_note(pruned),
        thresholds_note(metrics),
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
        embedded_png(f"{model} F1 by threshold", thresholds_png(metrics)),
        quantization_note(quantize_report),
        speed_note(quantize_report, measured_fps),
        list_table(
            f"{model}: quantization candidates (device decoder on the TPU-MLIR simulator's outputs)",
            CANDIDATE_HEADER,
            candidate_rows(quantize_report),
        ),
        keypoint_table(model, metrics, quantize_report),
        list_table(
            f"{model}: quantization similarity",
            ["step", "tensor", "cosine", "euclidean", "verdict"],
            similarity_rows(quantize_report, [o["name"] for o in pruned["outputs"]]),
        ),
        f"Training curves of {model}:\n",
        embedded_png(f"{model} training curves", curves_png),
        f"Val images of {model} through the pruned ONNX and the device decoder, at the app's thresholds "
        f"(score > {metrics['cvimodel']['thresholds']['conf_th']}, keypoints > "
        f"{metrics['cvimodel']['thresholds']['keypoint_th']}):\n",
        embedded_png(f"{model} predictions", grid_png),
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
