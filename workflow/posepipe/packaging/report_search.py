"""A search's page of `snakemake --report`: the accuracy/speed frontier drawn (estimated fps on
the MaixCAM against device-decoded pose mAP50-95 with its 95% interval, a mark per (point,
recipe), the frontier, the target and the choice), how far the speed axis holds, and every
row with why it was or was not chosen."""

import io

from posepipe.packaging.report_tables import embedded_png, figure, list_table


def frontier_png(record: dict) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, chosen = record["rows"], record["chosen"]
    fig, ax = plt.subplots(figsize=(9, 5.5), dpi=110)
    points = sorted({row["point"] for row in rows})
    for index, point in enumerate(points):
        mine = [row for row in rows if row["point"] == point]
        x = [row["estimated_fps"] for row in mine]
        y = [row["pose_mAP50-95"] for row in mine]
        low = [row["pose_mAP50-95"] - row["pose_mAP50-95_interval"][0] for row in mine]
        high = [row["pose_mAP50-95_interval"][1] - row["pose_mAP50-95"] for row in mine]
        marker = "os^vD<>ph"[index % 9]
        ax.errorbar(x, y, yerr=[low, high], fmt=marker, capsize=3, label=point.split(".", 1)[1])
        for row in mine:
            ax.annotate(row["recipe"], (row["estimated_fps"], row["pose_mAP50-95"]), fontsize=7,
                        xytext=(4, 4), textcoords="offset points", alpha=0.8)  # fmt: skip
            if not row["within_gate"]:
                ax.plot(row["estimated_fps"], row["pose_mAP50-95"], "x", color="grey", markersize=10)
    kept = {tuple(pair) for pair in record["frontier"]}
    line = sorted((r for r in rows if (r["point"], r["recipe"]) in kept), key=lambda r: r["estimated_fps"])
    ax.plot([r["estimated_fps"] for r in line], [r["pose_mAP50-95"] for r in line], "-", color="black", alpha=0.5,
            label="frontier (within the gate)")  # fmt: skip
    ax.axvline(record["target_fps"], color="red", linestyle="--", label=f"target {record['target_fps']:g} fps")
    shipped = f"shipped: {chosen['point'].split('.', 1)[1]} {chosen['recipe']}"
    ax.plot(chosen["estimated_fps"], chosen["pose_mAP50-95"], "*", color="gold", markersize=18,
            markeredgecolor="black", label=shipped)  # fmt: skip
    for row in rows:
        if row["measured_fps"] is not None:
            ax.plot(row["measured_fps"], row["pose_mAP50-95"], "|", color="black", markersize=14)
    ax.set_xlabel("estimated fps on the MaixCAM (TPU-MLIR's cost model, calibrated)")
    ax.set_ylabel("pose mAP50-95, device decoder on the val images")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def speed_axis_note(record: dict) -> str:
    axis = record["speed_axis"]
    return (
        f"The fps axis is an estimate from each cvimodel's TPU-MLIR layer-group costs, calibrated on "
        f"{axis['source']}; left out one at a time, the calibration predicts a published figure within "
        f"{100 * axis['leave_one_out_error_max']:.0f}% (mean {100 * axis['leave_one_out_error_mean']:.0f}%). "
        "A black tick marks a frame rate measured on a device (measured_fps); a grey cross, a recipe "
        "outside its accuracy gate.\n"
    )


def search_rst(record: dict) -> str:
    chosen = record["chosen"]
    header = ["point", "recipe", "pose mAP50-95 [95% interval]", "box mAP50", "estimated ms", "estimated fps",
              "measured fps", "why"]  # fmt: skip
    rows = [
        [row["point"], row["recipe"], f"{figure(row['pose_mAP50-95'])} [{figure(row['pose_mAP50-95_interval'][0])}, "
         f"{figure(row['pose_mAP50-95_interval'][1])}]", figure(row["box_mAP50"]), f"{row['estimated_ms']:.2f}",
         f"{row['estimated_fps']:.1f}", "" if row["measured_fps"] is None else f"{row['measured_fps']:g}", row["why"]]
        for row in sorted(record["rows"], key=lambda r: -r["estimated_fps"])
    ]  # fmt: skip
    return "\n".join(
        [
            f"Search {record['search']}: shipped {chosen['point']} {chosen['recipe']} ({chosen['reason']}), "
            f"pose mAP50-95 {chosen['pose_mAP50-95']:.3f} at an estimated {chosen['estimated_fps']:.1f} fps.\n",
            embedded_png(f"{record['search']} frontier", frontier_png(record)),
            speed_axis_note(record),
            list_table(f"{record['search']}: every point and recipe", header, rows),
        ]
    )
