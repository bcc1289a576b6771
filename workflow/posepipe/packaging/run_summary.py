"""What the end of a run tells a person: for each model it built, what they got, how good the
device will find it, why that recipe, and how to put it on a MaixCAM; for a failed run, the rule,
its log and the log's last meaningful line. Read from what the run wrote, never recomputed."""

import json
import re
from pathlib import Path

ERROR_IN_RULE = re.compile(r"^Error in rule (\S+):$", re.M)
RULE_LOG = re.compile(r"^\s+log: (\S+)", re.M)


def built_since(results: Path, models: list[str], started: float) -> list[str]:
    """The models whose .mud this run wrote (modified since `started`, a time.time())."""
    return [m for m in models if (mud := Path(results) / f"{m}.mud").is_file() and mud.stat().st_mtime >= started]


def _pose(figures: dict) -> str:
    return f"pose mAP50-95 {figures['pose']['mAP50-95']:.3f}, box mAP50 {figures['box']['mAP50']:.3f}"


def model_block(results: Path, model: str) -> str:
    """The block of one built model (results/<model>/metrics.json and the files beside the .mud)."""
    results = Path(results)
    metrics = json.loads((results / model / "metrics.json").read_text())
    shipped, quantization = metrics["cvimodel"], metrics["quantization"]
    row = next(r for r in quantization["candidates"] if r["recipe"] == quantization["chosen"]["recipe"])
    th = shipped["thresholds"]
    low, high = shipped["pose_mAP50-95_interval"]
    at_zero = shipped["keypoint_th_curve"][0]["pose"]["mAP50-95"]
    app = _app_zip(results, model)
    lines = [
        f"posepipe: {model} built",
        _model_line(results, model),
        f"  app       {app}",
        "  report    snakemake --report report.html",
        f"  shipped   {row['recipe']}: {quantization['chosen']['reason']}; pose mAP50-95 "
        f"{row['pose_mAP50-95_drop']:+.3f} from the float model's",
        f"  device    {_pose(shipped)} [95% interval of pose {low:.3f}, {high:.3f}] on {shipped['images']} val images, "
        f"as the app shows it: conf_th {th['conf_th']}, keypoint_th {th['keypoint_th']}, iou_th {th['iou_th']}",
        f"            pose mAP50-95 {at_zero:.3f} at keypoint_th 0 (every keypoint drawn, as Ultralytics scores)",
        f"  .pt       {_pose(metrics['pt'])}: Ultralytics' validation, every detection over conf 0.001 and every "
        "keypoint; the device figure counts only what the app draws",
        f"  speed     about {row['estimated_ms']:.1f} ms a frame ({row['estimated_fps']:.0f} fps) on the MaixCAM, "
        "estimated before flashing (docs/quantization.md)",
        *_install_lines(app),
    ]
    return "\n".join(lines)


def _app_zip(results: Path, name: str) -> Path:
    """The app's installable zip, or its folder where the run did not build it."""
    apps = sorted((results / f"{name}_app" / "dist").glob("*.zip"))
    return apps[0] if apps else results / f"{name}_app"


def _model_line(results: Path, name: str) -> str:
    return f"  model     {results / f'{name}.mud'} + {results / f'{name}.cvimodel'}  (copy both to /root/models/)"


def _install_lines(app: Path) -> list[str]:
    return [
        "  install   scp " + f"{app} root@<maixcam-ip>:/root/",
        f"            ssh root@<maixcam-ip> app_store_cli install /root/{app.name}",
    ]


def search_block(results: Path, search: str) -> str:
    """The block of one search whose choice this run packaged (results/<search>/search.json)."""
    results = Path(results)
    record = json.loads((results / search / "search.json").read_text())
    chosen = record["chosen"]
    low, high = chosen["pose_mAP50-95_interval"]
    within = sum(1 for row in record["rows"] if row["within_gate"])
    lines = [
        f"posepipe: search {search} built: {len({row['point'] for row in record['rows']})} points, "
        f"{len(record['rows'])} (point, recipe) pairs, {within} within their accuracy gate",
        f"  shipped   {chosen['point']} {chosen['recipe']}: {chosen['reason']}",
        f"  device    pose mAP50-95 {chosen['pose_mAP50-95']:.3f} [95% interval {low:.3f}, {high:.3f}], about "
        f"{chosen['estimated_fps']:.0f} fps estimated (target {record['target_fps']:g}; the estimate's leave-one-out "
        f"error up to {100 * record['speed_axis']['leave_one_out_error_max']:.0f}%)",
        _model_line(results, search),
        f"  why       {results / search / 'search.json'}; the frontier: snakemake --report report.html",
        *_install_lines(_app_zip(results, search)),
    ]
    return "\n".join(lines)


def last_meaningful_line(text: str) -> str:
    """A posepipe error line where there is one, else the last line that is no traceback frame."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("posepipe: error:")]
    if errors:
        return errors[-1]
    plain = [line for line in lines if not line.startswith(("File ", "Traceback", "^", "~"))]
    return plain[-1] if plain else "(the log is empty)"


def failure_block(snakemake_log: str, workdir: Path = Path(".")) -> str:
    """The failed rule of Snakemake's own log of the run, its log file and that log's last meaningful line."""
    found = list(ERROR_IN_RULE.finditer(snakemake_log))
    if not found:
        return "posepipe: the run failed before any rule's job did (Snakemake's message is above)"
    last = found[-1]
    rule = last.group(1)
    log = RULE_LOG.search(snakemake_log, last.end())
    if not log:
        return f"posepipe: rule {rule} failed (it keeps no log of its own; Snakemake's message is above)"
    path = Path(workdir) / log.group(1)
    line = last_meaningful_line(path.read_text(errors="replace")) if path.is_file() else "(no log was written)"
    return f"posepipe: rule {rule} failed; its log {log.group(1)} ends: {line}"
