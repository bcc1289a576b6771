"""Which quantization candidate ships: every candidate's accuracy and cost side by side, the
cheapest within the accuracy gate chosen, and the chosen cvimodel copied out with the report."""

import json
import logging
import shutil
from pathlib import Path

import numpy as np

from posepipe.device import speed as device_speed
from posepipe.evaluation import bootstrap, keypoints
from posepipe.infra.errors import PosepipeError

log = logging.getLogger("posepipe.tpu_mlir.quantize")


def _min_similarity(blocks: list[dict], key: str, output_names: list[str]):
    values = [b[key] for b in blocks if key in b and b["tensor"].startswith(tuple(output_names))]
    return round(min(values), 6) if values else None


def candidate_table(
    candidates: dict[str, tuple[dict, dict]],
    reference: dict,
    found_drops: dict[str, dict],
    output_names: list[str],
    speed: dict,
) -> list[dict]:
    """One row per recipe: what it is, its device-decoded accuracy and drop from the float
    model's (`reference`) with the drop's bootstrap interval, its worst keypoint and each
    keypoint's figures, the tools' similarity, its cost (TPU-MLIR's, and the time on the device
    it comes to by the `speed` calibration)."""
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
                "pose_mAP50-95_drop_interval": found_drops[name]["interval"],
                "worst_keypoint": found_drops[name]["worst_keypoint"],
                "keypoints": metrics["keypoints"]["per_keypoint"],
                "cosine": _min_similarity(deploy, "cosine", output_names),
                "euclidean": _min_similarity(deploy, "euclidean", output_names),
                "similarity_passed": report["similarity_passed"],
                "bf16_layer_count": len(report["bf16"]["layers"]),
                "bf16_share": report["bf16"]["elements_share"],
                "size_bytes": report["size_bytes"],
                "cost": report["cost"],
                **device_speed.estimate(report["cost"], speed),
            }
        )
    return rows


def keypoint_drop(worst: dict) -> str:
    """A candidate's worst keypoint drop (keypoints.worst_drop) as the log and the failure say it."""
    low, high = worst["drop_interval"]
    return f"keypoint {worst['keypoint']!r} {worst['figure']} drop {worst['drop']:+.3f} [{low:+.3f}, {high:+.3f}]"


def outside_gate(row: dict, max_accuracy_drop: float, max_keypoint_drop: float) -> list[str]:
    """Why a candidate is not within the gate (nothing: it is): its pose mAP50-95 more than
    `max_accuracy_drop` under the float model's; a keypoint whose PCK@0.1 the val split shows
    more than `max_keypoint_drop` under the float model's (the whole 95% interval of its drop
    above it: an average can hide one keypoint ruined, and the worst of K point drops on a few
    objects is mostly chance); or the tools' similarity check missed."""
    reasons = []
    if row["pose_mAP50-95_drop"] > max_accuracy_drop:
        reasons.append(f"pose mAP50-95 drop {row['pose_mAP50-95_drop']:+.3f} > {max_accuracy_drop}")
    worst = row.get("worst_keypoint")
    if worst and worst["drop_interval"][0] > max_keypoint_drop:
        reasons.append(f"{keypoint_drop(worst)} > {max_keypoint_drop}")
    if not row["similarity_passed"]:
        reasons.append("similarity check missed")
    return reasons


def choose(
    rows: list[dict], max_accuracy_drop: float, if_none_within_gate: str, max_keypoint_drop: float
) -> tuple[dict, str]:
    """The cheapest candidate within the gate (outside_gate), and why it was taken.

    Cost: the estimated time of a frame on the device (posepipe.device.speed: TPU-MLIR's own
    cost model of the built cvimodel, calibrated on Sipeed's published figures), then the
    cvimodel's size. Among equal costs the more accurate wins."""
    by_cost = sorted(rows, key=lambda r: (r["estimated_ms"], r["size_bytes"], -r["pose"]["mAP50-95"], r["recipe"]))
    for row in by_cost:
        row["outside_gate"] = outside_gate(row, max_accuracy_drop, max_keypoint_drop)
        row["within_gate"] = not row["outside_gate"]
    within = [row for row in by_cost if row["within_gate"]]
    if within:
        return within[0], f"the cheapest of {len(within)} within the gate"
    if if_none_within_gate == "most_accurate":
        best = max(rows, key=lambda r: (r["pose"]["mAP50-95"], -r["estimated_ms"]))
        log.warning("no candidate within max_accuracy_drop %s: shipping the most accurate, as asked", max_accuracy_drop)
        return best, "no candidate within the gate: the most accurate (quantize.if_none_within_gate)"
    raise PosepipeError(
        f"quantize: no recipe's cvimodel is within max_accuracy_drop {max_accuracy_drop} of the float model's pose "
        f"mAP50-95 and max_keypoint_drop {max_keypoint_drop} of its worst keypoint's PCK@0.1 with its similarity "
        f"check passed: {'; '.join(table_line(r) for r in by_cost)} (raise quantize.max_accuracy_drop or "
        "max_keypoint_drop, add a recipe with more BF16, or set if_none_within_gate: most_accurate)"
    )


def drops(reference_stats: Path, candidate_stats: dict[str, Path], keypoint_names: list[str]) -> dict[str, dict]:
    """Each candidate's 95% interval of its pose mAP50-95 drop (posepipe.evaluation.bootstrap) and
    its worst keypoint's PCK@0.1 drop (evaluation.keypoints), all on the same resamples of the val images."""
    reference = bootstrap.load_image_stats(reference_stats)
    draws = bootstrap.resample_draws(len(reference["images"]))
    reference_maps = bootstrap.pose_maps(reference, draws)
    found = {}
    for name, path in candidate_stats.items():
        stats = bootstrap.load_image_stats(path)
        if not np.array_equal(stats["images"], reference["images"]):
            raise PosepipeError(f"{path}: scored on other val images than {reference_stats}; rerun both")
        found[name] = {
            "interval": bootstrap.drop_interval(reference_maps, bootstrap.pose_maps(stats, draws)),
            "worst_keypoint": keypoints.worst_drop(reference, stats, keypoint_names, draws),
        }
    return found


def warn_if_unresolved(rows: list[dict], image_count: int, max_accuracy_drop: float) -> None:
    """One warning when some drop's interval is wider than the gate: the val split cannot tell
    that candidate from the float model (or from its neighbours) at that gate."""
    widest = max(rows, key=lambda r: r["pose_mAP50-95_drop_interval"][1] - r["pose_mAP50-95_drop_interval"][0])
    low, high = widest["pose_mAP50-95_drop_interval"]
    if high - low > max_accuracy_drop:
        log.warning(
            "the val split (%d images) is too small to tell the candidates apart at max_accuracy_drop %s: "
            "the 95%% interval of %s's pose mAP50-95 drop is [%+.3f, %+.3f]; roughly %d val images would "
            "narrow it to the gate",
            image_count, max_accuracy_drop, widest["recipe"], low, high,
            bootstrap.images_to_resolve(image_count, [low, high], max_accuracy_drop),
        )  # fmt: skip


def table_line(row: dict) -> str:
    low, high = row["pose_mAP50-95_drop_interval"]
    worst = row.get("worst_keypoint")
    keypoint = f"worst {keypoint_drop(worst)}, " if worst else ""
    outside = f" (outside the gate: {', '.join(row['outside_gate'])})" if row.get("outside_gate") else ""
    return (
        f"{row['recipe']}: pose mAP50-95 {row['pose']['mAP50-95']:.3f} "
        f"(drop {row['pose_mAP50-95_drop']:+.3f}, 95% interval [{low:+.3f}, {high:+.3f}]), {keypoint}"
        f"similarity {'passed' if row['similarity_passed'] else 'missed'}, BF16 share {row['bf16_share']:.3f}, "
        f"estimated {row['estimated_ms']:.1f} ms ({row['estimated_fps']:.0f} fps) on the device, "
        f"{row['size_bytes']} bytes{outside}"
    )


def select(
    *,
    transform_json: Path,
    candidates: dict[str, tuple[Path, Path, Path, Path]],
    reference_metrics: Path,
    reference_stats: Path,
    max_accuracy_drop: float,
    max_keypoint_drop: float,
    if_none_within_gate: str,
    speed: dict,
    out_cvimodel: Path,
    out_report: Path,
    out_metrics: Path,
) -> dict:
    """Choose among the candidates (recipe -> cvimodel, report, metrics, per-image stats), copy
    the chosen one out, and write the quantization report (every candidate side by side) and its
    metrics."""
    transformed = json.loads(Path(transform_json).read_text())
    loaded = {
        name: (json.loads(Path(report).read_text()), json.loads(Path(metrics).read_text()))
        for name, (_, report, metrics, _) in candidates.items()
    }
    reference = json.loads(Path(reference_metrics).read_text())
    names = list(reference["keypoints"]["per_keypoint"])
    found = drops(reference_stats, {name: files[3] for name, files in candidates.items()}, names)
    rows = candidate_table(loaded, reference, found, transformed["settings"]["output_names"], speed)
    warn_if_unresolved(rows, reference["images"], max_accuracy_drop)
    chosen, reason = choose(rows, max_accuracy_drop, if_none_within_gate, max_keypoint_drop)
    for row in rows:
        log.info("%s%s", table_line(row), "  <- chosen" if row is chosen else "")
    name = chosen["recipe"]
    report = {
        **{k: transformed[k] for k in ("model", "tpu_mlir_version", "runner", "settings", "test_image")},
        "recipe": loaded[name][0]["recipe"],
        "calibration_images": loaded[name][0].get("calibration_images", []),
        "chosen": {"recipe": name, "reason": reason},
        "gate": {
            "max_accuracy_drop": max_accuracy_drop,
            "max_keypoint_drop": max_keypoint_drop,
            "reference": "device_float pose mAP50-95, and each keypoint's PCK@0.1",
        },
        "speed_model": device_speed.description(speed),
        "candidates": rows,
        "similarity": {"transform": transformed["similarity"], "deploy": loaded[name][0]["similarity"]["deploy"]},
        "bf16_layers": loaded[name][0]["bf16"]["layers"],
    }
    shutil.copyfile(candidates[name][0], out_cvimodel)
    Path(out_metrics).write_text(json.dumps({**loaded[name][1], "recipe": name}, indent=1) + "\n")
    Path(out_report).write_text(json.dumps(report, indent=1) + "\n")
    return report
