"""The end of a run, read from what the run wrote: the block of a built model, and the failed
rule with its log's last meaningful line."""

import json
import os
import time

from posepipe.packaging.run_summary import built_since, failure_block, last_meaningful_line, model_block

FIGURES = {"box": {"mAP50": 0.81}, "pose": {"mAP50-95": 0.42}}


def written_results(tmp_path):
    """A model's metrics.json and package as a run leaves them."""
    results = tmp_path / "results"
    (results / "m").mkdir(parents=True)
    (results / "m_app" / "dist").mkdir(parents=True)
    (results / "m_app" / "dist" / "posepipe_m_v1.0.0.zip").write_bytes(b"zip")
    (results / "m.mud").write_text("[basic]\n")
    shipped = {
        **FIGURES, "images": 16, "pose_mAP50-95_interval": [0.31, 0.55],
        "thresholds": {"conf_th": 0.25, "keypoint_th": 0.4, "iou_th": 0.45},
        "keypoint_th_curve": [{"keypoint_th": 0.0, "pose": {"mAP50-95": 0.6}}],
    }  # fmt: skip
    row = {"recipe": "int8", "pose_mAP50-95_drop": 0.01, "estimated_ms": 5.5, "estimated_fps": 181.8}
    metrics = {
        "pt": {"box": {"mAP50": 0.9}, "pose": {"mAP50-95": 0.7}},
        "cvimodel": shipped,
        "quantization": {
            "chosen": {"recipe": "int8", "reason": "the cheapest of 2 within the gate"},
            "candidates": [row],
        },
    }
    (results / "m" / "metrics.json").write_text(json.dumps(metrics))
    return results


def test_a_built_model_s_block_states_what_its_files_say(tmp_path):
    results = written_results(tmp_path)
    block = model_block(results, "m")
    assert block.splitlines()[0] == "posepipe: m built"
    assert f"{results / 'm.mud'} + {results / 'm.cvimodel'}" in block
    assert "int8: the cheapest of 2 within the gate; pose mAP50-95 +0.010 from the float model's" in block
    assert "pose mAP50-95 0.420, box mAP50 0.810 [95% interval of pose 0.310, 0.550] on 16 val images" in block
    assert "conf_th 0.25, keypoint_th 0.4, iou_th 0.45" in block and "pose mAP50-95 0.600 at keypoint_th 0" in block
    assert "pose mAP50-95 0.700, box mAP50 0.900: Ultralytics' validation" in block
    assert "about 5.5 ms a frame (182 fps)" in block
    assert f"scp {results / 'm_app' / 'dist' / 'posepipe_m_v1.0.0.zip'} root@<maixcam-ip>:/root/" in block
    assert "ssh root@<maixcam-ip> app_store_cli install /root/posepipe_m_v1.0.0.zip" in block


def test_only_the_models_whose_package_the_run_wrote_are_told_of(tmp_path):
    results = written_results(tmp_path)
    (results / "old.mud").write_text("")
    os.utime(results / "old.mud", (1, 1))
    started = time.time() - 60
    assert built_since(results, ["m", "old", "never"], started) == ["m"]


SNAKEMAKE_LOG = """\
[Sun Dec  6 22:00:01 2026]
Error in rule convert:
    message: None
    jobid: 3
    input: results/demo/annotations/train.json
    output: results/datasets/demo
    log: results/logs/convert/demo.log (check log file(s) for error details)
Shutting down, this might take some time.
"""


def test_a_failed_run_names_the_rule_its_log_and_the_log_s_last_meaningful_line(tmp_path):
    log = tmp_path / "results" / "logs" / "convert" / "demo.log"
    log.parent.mkdir(parents=True)
    log.write_text(
        "posepipe.dataset.convert: train: 8 images\nposepipe: error: data/a.json: image id 3: unreadable\n\n"
    )
    assert failure_block(SNAKEMAKE_LOG, tmp_path) == (
        "posepipe: rule convert failed; its log results/logs/convert/demo.log ends: "
        "posepipe: error: data/a.json: image id 3: unreadable"
    )
    assert "before any rule's job" in failure_block("Building DAG of jobs...\nWorkflowError: config", tmp_path)


def test_the_last_meaningful_line_of_a_traceback_is_its_message():
    traceback = 'Traceback (most recent call last):\n  File "x.py", line 3, in <module>\n    f()\nValueError: bad\n'
    assert last_meaningful_line(traceback) == "ValueError: bad"
    assert last_meaningful_line("") == "(the log is empty)"
