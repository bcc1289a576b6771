"""cpus.own_cpu: a CPU of its own for each holder on this machine, none when all are held, and a
CPU free again once its holder ends, killed or not."""

import os
import subprocess
import sys
from contextlib import ExitStack

import pytest
from posepipe.infra.cpus import own_cpu
from support.paths import REPO

CPUS = sorted(os.sched_getaffinity(0))
pytestmark = pytest.mark.skipif(len(CPUS) < 2, reason="one CPU in this process's set: nothing to share out")


def test_each_holder_gets_a_cpu_of_its_own_until_none_is_left(tmp_path):
    with ExitStack() as holders:
        held = [holders.enter_context(own_cpu(tmp_path)) for _ in CPUS]
        assert held == CPUS
        with own_cpu(tmp_path) as extra:
            assert extra is None
    with own_cpu(tmp_path) as again:
        assert again == CPUS[0]


def test_a_killed_holder_s_cpu_is_free_again(tmp_path):
    code = (
        f"import sys, time; sys.path.insert(0, {str(REPO / 'workflow')!r}); from pathlib import Path; "
        f"from posepipe.infra.cpus import own_cpu\nwith own_cpu(Path({str(tmp_path)!r})) as cpu:\n"
        "    print(cpu, flush=True); time.sleep(120)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        taken = int(holder.stdout.readline())
        with own_cpu(tmp_path) as cpu:
            assert cpu != taken
    finally:
        holder.kill()
        holder.wait()
    with own_cpu(tmp_path) as cpu:
        assert cpu == taken == CPUS[0]


def test_a_process_already_on_one_cpu_is_left_as_it_is(tmp_path):
    code = (
        f"import sys; sys.path.insert(0, {str(REPO / 'workflow')!r}); from pathlib import Path; "
        f"from posepipe.infra.cpus import own_cpu\nwith own_cpu(Path({str(tmp_path)!r})) as cpu:\n    print(cpu)"
    )
    confined = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        preexec_fn=lambda: os.sched_setaffinity(0, {CPUS[-1]}),
    )
    assert confined.stdout.strip() == "None"
    assert not list(tmp_path.iterdir())  # no lock taken
