"""How a rule's work runs: a PosepipeError is one line, never a traceback, in a script's
process (exit 1) and inside Snakemake's (a WorkflowError); what the work prints reaches the log."""

import subprocess
import sys

import pytest
from posepipe.infra.errors import PosepipeError
from posepipe.infra.rule_entry import in_rule_log
from snakemake.exceptions import WorkflowError
from support.paths import REPO

SCRIPT = """
import sys
from posepipe.infra.errors import PosepipeError
from posepipe.infra.rule_entry import run_rule

def main():
    print("working on data/train.json")
    if sys.argv[2] == "fail":
        raise PosepipeError("data/train.json: annotation id 7: unknown image_id 9")

run_rule(main, sys.argv[1])
"""


@pytest.mark.parametrize("outcome", ["succeed", "fail"])
def test_a_script_rule_logs_what_it_prints_and_fails_in_one_line(tmp_path, outcome):
    log = tmp_path / "rule.log"
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(log), outcome],
        capture_output=True, text=True, env={"PYTHONPATH": str(REPO / "workflow")},
    )  # fmt: skip
    assert "working on data/train.json" in result.stdout and "working on data/train.json" in log.read_text()
    if outcome == "succeed":
        assert result.returncode == 0 and result.stderr == ""
    else:
        line = "posepipe: error: data/train.json: annotation id 7: unknown image_id 9\n"
        assert result.returncode == 1 and result.stderr == line and log.read_text().endswith(line)
        assert "Traceback" not in result.stderr


def test_a_run_rule_logs_its_result_and_turns_a_fault_into_one_workflow_error(tmp_path):
    log = tmp_path / "run.log"
    in_rule_log(str(log), lambda *, name: f"built {name}", name="venv-abc")
    assert log.read_text() == "built venv-abc\n"

    def refuse(**_):
        raise PosepipeError("venv-abc: pip install of tpu_mlir 1.28.1 failed; see the log")

    with pytest.raises(WorkflowError) as raised:
        in_rule_log(str(log), refuse)
    assert str(raised.value).startswith("posepipe: error: venv-abc: pip install") and raised.value.__cause__ is None
