"""`snakemake --report` of a built model, rendered in headless Chromium (Debian's chromium)."""

import json
import re
import shutil
import subprocess

import pytest
from PIL import Image
from support.parts import require
from support.runs import run_snakemake, small_model_config

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1400,2400", "--virtual-time-budget=15000",
]  # fmt: skip


@pytest.fixture(scope="module")
def report_html(trained, tmp_path_factory):
    require("chromium")
    chromium = shutil.which("chromium")
    run_snakemake(trained, small_model_config(), "results/small/report/summary.rst")
    report = trained / "results" / "report.html"
    run_snakemake(trained, small_model_config(), extra=["--report", str(report)])
    return chromium, report, tmp_path_factory.mktemp("chromium")


def render(chromium, page, profile, *action) -> subprocess.CompletedProcess:
    command = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *action, page.as_uri()]
    return subprocess.run(command, capture_output=True, text=True, timeout=180)


def test_the_rendered_front_page_shows_the_metrics_table(report_html, trained):
    chromium, report, profile = report_html
    dom = render(chromium, report, profile / "dom", "--dump-dom").stdout
    metrics = json.loads((trained / "results" / "small" / "metrics.json").read_text())
    table = dom[dom.index("small: metrics on the val images") :]
    table = table[: table.index("</table>")]
    labels = ("Ultralytics, .pt", "device decoder, pruned ONNX (float)", "device decoder, shipped cvimodel (simulator)")
    for label in labels:
        assert label in table
    assert f"{metrics['cvimodel']['box']['mAP50']:.3f}" in table and f"{metrics['pt']['pose']['mAP50']:.3f}" in table
    assert "outputs of the pruned graph" in dom and "/model.22/Concat_2_output_0" in dom
    assert "quantization similarity" in dom and "SIMILAR" in dom
    images = r'<img alt="small (training curves|predictions|F1 by threshold)" src="data:image/png;base64,'
    assert len(re.findall(images, dom)) == 3
    shipped = metrics["cvimodel"]["thresholds"]
    for table, curve in (("keypoints by keypoint_th", "keypoint_th_curve"), ("detections by conf_th", "conf_th_curve")):
        rows = dom[dom.index(f"small: {table}") :]
        rows = rows[: rows.index("</table>")]
        last = metrics["cvimodel"][curve][-1]
        assert "{:.3f} [{:.3f}, {:.3f}]".format(last["f1"], *last["f1_interval"]) in rows
    # the val images are drawn at what the app ships
    assert f"at the app's thresholds (score &gt; {shipped['conf_th']}, keypoints &gt; {shipped['keypoint_th']})" in dom
    candidates = dom[dom.index("small: quantization candidates") :]
    candidates = candidates[: candidates.index("</table>")]
    for row in metrics["quantization"]["candidates"]:  # every recipe, its figures and cost
        assert f">{row['recipe']}<" in candidates
        assert f"{row['pose']['mAP50-95']:.3f}" in candidates and str(row["size_bytes"]) in candidates
    assert candidates.count(">yes<") == 1
    keypoints = dom[dom.index("small: each keypoint, the float model against every candidate") :]
    keypoints = keypoints[: keypoints.index("</table>")]
    for name, figures in metrics["device_float"]["keypoints"]["per_keypoint"].items():
        assert f">{name}<" in keypoints
        if figures["pck@0.1"] is not None:
            assert "{:.3f} [{:.3f}, {:.3f}]".format(figures["pck@0.1"], *figures["pck@0.1_interval"]) in keypoints
    for row in metrics["quantization"]["candidates"]:
        assert f"{row['recipe']} PCK at 0.1 (drop)" in keypoints  # not PCK@0.1: docutils makes that a mail link
    assert "Pose mAP (OKS) uses the keypoints' sigmas assumed: COCO's sigmas" in dom
    # what a user acts on comes first, and the pictures before the long tables, which are folded
    device = dom[dom.index("small: what the device will show") :]
    device = device[: device.index("</table>")]
    low, high = metrics["cvimodel"]["pose_mAP50-95_interval"]
    assert f"{metrics['cvimodel']['pose']['mAP50-95']:.3f} [{low:.3f}, {high:.3f}]" in device
    order = [
        dom.index(text)
        for text in (
            "small: what the device will show",
            'alt="small predictions"',
            'alt="small F1 by threshold"',
            "small: metrics on the val images",
        )
    ]
    assert order == sorted(order)
    folded = dom[dom.index("<summary>Every threshold") :]
    assert folded.index("small: keypoints by keypoint_th") < folded.index("</details>")


def test_a_screenshot_of_the_report_shows_a_page(report_html):
    chromium, report, profile = report_html
    screenshot = profile / "report.png"
    render(chromium, report, profile / "shot", f"--screenshot={screenshot}")
    image = Image.open(screenshot).convert("RGB")
    assert image.size == (1400, 2400)
    assert len(image.getcolors(maxcolors=1 << 20) or []) > 100, "the page rendered blank"
