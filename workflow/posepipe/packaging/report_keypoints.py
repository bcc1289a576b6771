"""The report's keypoint section: the OKS sigmas every pose figure is built on, and each
keypoint's figures for the float model and every candidate (evaluation.keypoints), with each
candidate's worst PCK@0.1 drop marked, so a user sees which keypoint quantization hurts."""


def sigmas_note(metrics: dict) -> str:
    sigmas = metrics["kpt_oks_sigmas"]
    values = ", ".join(f"{entry['name']} {entry['sigma']:.4g}" for entry in sigmas["per_keypoint"])
    return f"Pose mAP (OKS) uses the keypoints' sigmas {sigmas['source']}: {sigmas['detail']} ({values}).\n"


def _with_interval(row: dict, figure: str, digits: str = ".3f") -> str:
    value, interval = row[figure], row[f"{figure}_interval"]
    if value is None:
        return ""
    return f"{value:{digits}} [{interval[0]:{digits}}, {interval[1]:{digits}}]" if interval else f"{value:{digits}}"


def keypoint_header(quantize_report: dict) -> list[str]:
    recipes = [row["recipe"] for row in quantize_report["candidates"]]
    return [
        "keypoint", "labelled", "float PCK at 0.05", "float PCK at 0.1", "float median px", "float shown",
        *(f"{recipe} PCK at 0.1 (drop)" for recipe in recipes),
    ]  # fmt: skip


def keypoint_rows(metrics: dict, quantize_report: dict) -> list[list]:
    """A row per keypoint: the float model's figures with their 95% intervals, and each
    candidate's PCK@0.1 and drop from it; the worst drop of each candidate in bold."""
    reference = metrics["device_float"]["keypoints"]["per_keypoint"]
    rows = []
    for name, figures in reference.items():
        row = [
            name,
            figures["labelled"],
            _with_interval(figures, "pck@0.05"),
            _with_interval(figures, "pck@0.1"),
            _with_interval(figures, "median_px_error", ".1f"),
            _with_interval(figures, "shown"),
        ]
        for candidate in quantize_report["candidates"]:
            theirs, worst = candidate["keypoints"][name], candidate.get("worst_keypoint") or {}
            if theirs["pck@0.1"] is None or figures["pck@0.1"] is None:
                row.append("")
                continue
            cell = f"{theirs['pck@0.1']:.3f} ({figures['pck@0.1'] - theirs['pck@0.1']:+.3f})"
            row.append(f"**{cell}**" if worst.get("keypoint") == name and worst.get("drop", 0) > 0 else cell)
        rows.append(row)
    return rows
