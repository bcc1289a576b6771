"""The report's tables and embedded pictures as reStructuredText: each figure side by side with
what it is (training.validate's sources), and folded sections for the long ones."""

import base64

from posepipe.training.validate import DECODED_SOURCES, METRIC_SOURCES, SOURCE_MEANINGS


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
        [
            label,
            SOURCE_MEANINGS[key],
            metrics[key]["images"],
            *(figure(metrics[key][kind][name]) for kind, name in columns),
        ]
        for key, label in METRIC_SOURCES.items()
        if key in metrics
    ]


def device_rows(metrics: dict, quantize_report: dict) -> list[list]:
    """What the device will show: the shipped cvimodel at the app's thresholds, its pose figure's
    interval, the same with every keypoint drawn, and the frame rate; the float model beside it."""
    shipped = next(r for r in quantize_report["candidates"] if r["recipe"] == quantize_report["chosen"]["recipe"])
    rows = []
    for source, label in (("cvimodel", f"shipped cvimodel ({shipped['recipe']})"), ("device_float", "float model")):
        result = metrics[source]
        low, high = result["pose_mAP50-95_interval"]
        rows.append([
            label, figure(result["box"]["mAP50"]),
            f"{figure(result['pose']['mAP50-95'])} [{low:.3f}, {high:.3f}]",
            figure(result["keypoint_th_curve"][0]["pose"]["mAP50-95"]),
            result["thresholds"]["conf_th"], result["thresholds"]["keypoint_th"],
            f"{shipped['estimated_fps']:.0f}" if source == "cvimodel" else "",
        ])  # fmt: skip
    return rows


def folded(summary: str, content: str) -> str:
    """`content` (reStructuredText) behind a line the reader opens in the HTML report."""
    return f".. raw:: html\n\n   <details><summary>{summary}</summary>\n\n{content}\n.. raw:: html\n\n   </details>\n"


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


def embedded_png(title: str, png: bytes) -> str:
    # docutils refuses lines over 10,000 characters; browsers drop the newlines of a data: URL
    data = base64.b64encode(png).decode()
    lines = [data[i : i + 76] for i in range(0, len(data), 76)]
    source = "\n   ".join(["data:image/png;base64,", *lines])
    return f'.. raw:: html\n\n   <figure><img alt="{title}" src="{source}" style="max-width:100%"/></figure>\n'
