"""A search over architectures and input sizes: its points, each an ordinary model, and the one
(point, recipe) that ships, chosen by device-decoded accuracy under a frame-rate target.

Every point is a model of its own (`<search>.<architecture>_<height>x<width>`), built by the
same rules as one configured by hand under `models:` with the same settings. The choice: of
every (point, recipe) within its accuracy gate (evaluation.selection) whose estimated fps on
the MaixCAM meets `target_fps`, the most accurate by pose mAP50-95; where a faster one is as
accurate within the two figures' 95% intervals, that faster one."""

import itertools
import json
import logging
import shutil
from pathlib import Path

from posepipe.infra.errors import PosepipeError
from posepipe.infra.staging import staged

log = logging.getLogger("posepipe.evaluation.search")

# what a search sets for all its points besides these keys is any model key (schema $defs/model)
SEARCH_KEYS = ("dataset", "architectures", "imgsz", "points", "target_fps", "if_no_point_meets", "measured_fps")


def point_name(search: str, architecture: str, imgsz: list[int]) -> str:
    """A point's model name: stable, and a file name (the schema's name pattern)."""
    return f"{search}.{Path(architecture).stem}_{imgsz[0]}x{imgsz[1]}"


def search_points(search: str, entry: dict) -> dict[str, dict]:
    """Point name -> its model entry (what `models:` would say), in the search's order: every
    architecture at every input size, then the `points` listed one by one."""
    shared = {key: value for key, value in entry.items() if key not in SEARCH_KEYS}
    measured = entry.get("measured_fps", {})
    points = {}
    for architecture, imgsz in _pairs(entry):
        name = point_name(search, architecture, imgsz)
        points[name] = {"dataset": entry["dataset"], "architecture": architecture, "imgsz": imgsz, **shared}
        if (short := name.split(".", 1)[1]) in measured:
            points[name]["measured_fps"] = measured[short]
    return points


def _pairs(entry: dict) -> list[tuple[str, list[int]]]:
    """(architecture, imgsz) of every point of a search entry, in its order."""
    pairs = [(a, list(s)) for a, s in itertools.product(entry.get("architectures", []), entry.get("imgsz", []))]
    return pairs + [(point["architecture"], list(point["imgsz"])) for point in entry.get("points", [])]


def _same_names(search: str, entry: dict) -> list[str]:
    """Points that would share a name (two `best.pt` of other folders at one size): one would be lost."""
    seen: dict[str, str] = {}
    faults = []
    for architecture, imgsz in _pairs(entry):
        name = point_name(search, architecture, imgsz)
        if name in seen and seen[name] != architecture:
            faults.append(f"searches.{search}: {seen[name]} and {architecture} both make point '{name}': rename one")
        seen.setdefault(name, architecture)
    return faults


def search_faults(config: dict) -> list[str]:
    """What the schema cannot say of `searches`: a known dataset, names no model takes, points of
    distinct names, at least one, and measured_fps only for its own points."""
    faults = []
    models, datasets = config.get("models", {}), config.get("datasets", {})
    for search, entry in config.get("searches", {}).items():
        where = f"searches.{search}"
        if search in models:
            faults.append(f"{where}: '{search}' is also a model name: results/{search}.mud would be both")
        if entry["dataset"] not in datasets:
            faults.append(f"{where}.dataset: '{entry['dataset']}' is not one of datasets: {', '.join(datasets)}")
        points = search_points(search, entry)
        faults += _same_names(search, entry)
        if not points:
            faults.append(f"{where}: no point: give architectures and imgsz, or points")
        faults += [f"{where}: point '{name}' is also a model name" for name in points if name in models]
        point_keys = {name.split(".", 1)[1] for name in points}
        faults += [
            f"{where}.measured_fps: '{key}' is not a point of the search ({', '.join(sorted(point_keys))})"
            for key in entry.get("measured_fps", {})
            if key not in point_keys
        ]
    return faults


def search_rows(points: dict[str, dict], measured_fps: dict[str, float]) -> list[dict]:
    """One row per (point, recipe): the point's quantization report row (its gate, its cost and
    estimated speed) with the candidate's device-decoded pose figure and its interval.
    `points`: point -> {"imgsz", "architecture", "report": report.json, "metrics": recipe -> the
    candidate's metrics.json}; `measured_fps`: point's short name -> fps measured on a device."""
    rows = []
    for name, point in points.items():
        short = name.split(".", 1)[1]
        for row in point["report"]["candidates"]:
            metrics = point["metrics"][row["recipe"]]
            rows.append(
                {
                    "point": name,
                    "architecture": point["architecture"],
                    "imgsz": point["imgsz"],
                    "recipe": row["recipe"],
                    "pose_mAP50-95": metrics["pose"]["mAP50-95"],
                    "pose_mAP50-95_interval": metrics["pose_mAP50-95_interval"],
                    "box_mAP50": metrics["box"]["mAP50"],
                    "within_gate": row["within_gate"],
                    "outside_gate": row["outside_gate"],
                    "estimated_ms": row["estimated_ms"],
                    "estimated_fps": row["estimated_fps"],
                    "measured_fps": measured_fps.get(short),
                }
            )
    return rows


def _as_accurate(a: dict, b: dict) -> bool:
    """Each figure lies within the other's 95% interval: the val images cannot tell them apart."""
    (a_low, a_high), (b_low, b_high) = a["pose_mAP50-95_interval"], b["pose_mAP50-95_interval"]
    return b_low <= a["pose_mAP50-95"] <= b_high and a_low <= b["pose_mAP50-95"] <= a_high


def _label(row: dict) -> str:
    return f"{row['point']} {row['recipe']}"


def choose_across(rows: list[dict], target_fps: float, if_no_point_meets: str, search: str) -> tuple[dict, str]:
    """The (point, recipe) that ships and why; every row gets `why` (chosen, or why not)."""
    fastest = max(rows, key=lambda r: (r["estimated_fps"], r["pose_mAP50-95"]))
    within = [r for r in rows if r["within_gate"]]
    if not within:
        raise PosepipeError(
            f"search {search}: no (point, recipe) is within its accuracy gate (quantize.max_accuracy_drop)"
        )
    eligible = [r for r in within if r["estimated_fps"] >= target_fps]
    if eligible:
        best = max(eligible, key=lambda r: (r["pose_mAP50-95"], r["estimated_fps"]))
        chosen = max(
            (r for r in eligible if _as_accurate(r, best)), key=lambda r: (r["estimated_fps"], r["pose_mAP50-95"])
        )
        reason = f"the most accurate at {target_fps:g} fps or more"
        if chosen is not best:
            reason += f": as accurate as {_label(best)} within their 95% intervals, and faster"
    elif if_no_point_meets == "fastest":
        chosen = max(within, key=lambda r: (r["estimated_fps"], r["pose_mAP50-95"]))
        reason = f"no point meets {target_fps:g} fps: the fastest within the gate (if_no_point_meets: fastest)"
    else:
        raise PosepipeError(
            f"search {search}: no point meets target_fps {target_fps:g}: the fastest, {_label(fastest)}, is "
            f"estimated at {fastest['estimated_fps']:.1f} fps (lower target_fps, add a smaller point, or set "
            "if_no_point_meets: fastest)"
        )
    for row in rows:
        row["why"] = f"chosen: {reason}" if row is chosen else _why_not(row, chosen, target_fps)
    return chosen, reason


def _why_not(row: dict, chosen: dict, target_fps: float) -> str:
    figures = f"pose mAP50-95 {row['pose_mAP50-95']:.3f} at {row['estimated_fps']:.1f} fps"
    if not row["within_gate"]:
        return f"outside the accuracy gate: {', '.join(row['outside_gate'])}"
    if chosen["estimated_fps"] < target_fps:  # nothing met the target: the fastest shipped
        return f"{figures}: slower than the chosen, and no point meets {target_fps:g} fps"
    if row["estimated_fps"] < target_fps:
        return f"{figures}: under the target of {target_fps:g} fps"
    if _as_accurate(row, chosen):
        return f"{figures}: as accurate as the chosen within the 95% intervals, and not faster"
    if row["pose_mAP50-95"] < chosen["pose_mAP50-95"]:
        return f"{figures}: less accurate than the chosen ({chosen['pose_mAP50-95']:.3f})"
    return f"{figures}: slower than the chosen, which is as accurate as the most accurate within their intervals"


def frontier(rows: list[dict]) -> list[dict]:
    """The rows no other row beats on both axes (faster and more accurate), by estimated fps."""
    ordered = sorted(rows, key=lambda r: (-r["estimated_fps"], -r["pose_mAP50-95"]))
    kept, best = [], -1.0
    for row in ordered:
        if row["pose_mAP50-95"] > best:
            kept.append(row)
            best = row["pose_mAP50-95"]
    return sorted(kept, key=lambda r: r["estimated_fps"])


def search_record(
    search: str, rows: list[dict], chosen: dict, reason: str, settings: dict, chosen_metrics: dict, speed: dict
) -> dict:
    """search.json: every (point, recipe) with its figures and why it was or was not chosen, the
    frontier, the choice with the thresholds its app takes, and how far the speed axis holds
    (the calibration's leave-one-out errors, posepipe.device.speed)."""
    errors = [abs(point["leave_one_out_error"]) for point in speed["points"]]
    return {
        "search": search,
        **settings,
        "chosen": {
            **{
                key: chosen[key]
                for key in ("point", "recipe", "architecture", "imgsz", "estimated_ms", "estimated_fps")
            },
            "pose_mAP50-95": chosen["pose_mAP50-95"],
            "pose_mAP50-95_interval": chosen["pose_mAP50-95_interval"],
            "reason": reason,
            "thresholds": chosen_metrics["thresholds"],
        },
        # what can ship: the rows within their gate that no other such row beats on both axes
        "frontier": [[row["point"], row["recipe"]] for row in frontier([r for r in rows if r["within_gate"]])],
        "speed_axis": {
            "source": speed["source"],
            "leave_one_out_error_max": round(max(errors), 4),
            "leave_one_out_error_mean": round(sum(errors) / len(errors), 4),
        },
        "rows": rows,
    }


def select_search(
    *,
    search: str,
    points: list[dict],
    reports: list[Path],
    candidates: list[dict[str, tuple[Path, Path]]],
    settings: dict,
    speed: dict,
    out_json: Path,
    out_cvimodel: Path,
) -> dict:
    """Read every point's quantization report and each candidate's cvimodel and val metrics
    (`candidates[i]`: recipe -> (cvimodel, metrics.json) of `points[i]`), choose, and write
    search.json and the chosen cvimodel. `settings`: target_fps, if_no_point_meets, measured_fps."""
    read = {}
    for point, report, recipes in zip(points, reports, candidates):
        read[point["name"]] = {
            **point,
            "report": json.loads(Path(report).read_text()),
            "metrics": {recipe: json.loads(Path(files[1]).read_text()) for recipe, files in recipes.items()},
        }
    rows = search_rows(read, settings["measured_fps"])
    chosen, reason = choose_across(rows, settings["target_fps"], settings["if_no_point_meets"], search)
    for row in rows:
        log.info("%s %s: %s", row["point"], row["recipe"], row["why"])
    index = [point["name"] for point in points].index(chosen["point"])
    chosen_metrics = read[chosen["point"]]["metrics"][chosen["recipe"]]
    record = search_record(search, rows, chosen, reason, settings, chosen_metrics, speed)
    with staged(Path(out_cvimodel)) as partial:
        shutil.copyfile(candidates[index][chosen["recipe"]][0], partial)
    with staged(Path(out_json)) as partial:
        partial.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    return record
