"""Snakemake's command line, run as `python -m snakemake` runs it, in a process of its own.

Importing Snakemake and its plugins takes about 2 s of CPU, most of what a dry run costs. So a
run is forked from a server (this file run as a script, one per test process) that has imported
them, and calls the same `snakemake.cli.main` in the folder and environment asked for, with the
module path a fresh `python -m snakemake` has there. What a process reads only as it starts is
the server's: the interpreter's PYTHON* variables (a sitecustomize on PYTHONPATH, say) and what
the plugins look up on PATH as they are imported. A run that changes those starts a fresh
interpreter instead."""

import atexit
import functools
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import traceback


def read_at_start(name: str) -> bool:
    """PYTHON* by the interpreter (but the bytecode switch, which a run sets itself), PATH by the
    plugins as they are imported."""
    return name == "PATH" or (name.startswith("PYTHON") and name != "PYTHONDONTWRITEBYTECODE")


def _exit_code(words: list[str], cwd: str, env: dict, out: str, err: str) -> int:
    """One run, in the forked child: what `python -m snakemake WORDS` would exit with."""
    written = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    for fd, path, mode in ((0, os.devnull, os.O_RDONLY), (1, out, written), (2, err, written)):
        os.dup2(os.open(path, mode, 0o644), fd)
    code = 1
    try:
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        sys.path[0] = cwd  # where `-m` puts the working folder
        sys.argv = [importlib.util.find_spec("snakemake.__main__").origin, *words]  # as `-m` sets it
        sys.dont_write_bytecode = bool(env.get("PYTHONDONTWRITEBYTECODE"))
        from snakemake.cli import main

        main()  # snakemake/__main__.py, reading sys.argv
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else int(exit.code is not None)
        if isinstance(exit.code, str):
            print(exit.code, file=sys.stderr)
    except BaseException:
        traceback.print_exc()
    finally:
        atexit._run_exitfuncs()  # what the end of a process runs; os._exit would skip it
        sys.stdout.flush()
        sys.stderr.flush()
    return code


# What a run of this workflow imports that snakemake.cli has not, found by watching one: the
# profile, report and storage modules of Snakemake, the source cache's smart_open (with
# requests), nbformat for planning script rules, and msgspec, which posepipe's Snakefile imports.
# Never posepipe itself: a run may take its files from another checkout (tests/workflow/test_module.py).
PRELOADED = (
    "snakemake.profiles",
    "snakemake.report.html_reporter",
    "snakemake.storage",
    "smart_open",
    "nbformat",
    "platformdirs",
    "msgspec",
)


def serve() -> None:
    """For each request line on stdin, fork a run, then answer with its pid and its exit status."""
    sys.path[0] = os.getcwd()  # not this file's folder, whose test helpers are no modules of a run
    import snakemake.cli  # noqa: F401  (what every run imports: the point of this server)

    for name in PRELOADED:
        importlib.import_module(name)

    for line in sys.stdin:
        pid = os.fork()
        if pid == 0:
            os._exit(_exit_code(**json.loads(line)))
        print(pid, flush=True)
        print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)


@functools.cache
def _server() -> tuple[subprocess.Popen, dict, threading.Lock]:
    env = dict(os.environ)
    process = subprocess.Popen([sys.executable, __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True, cwd="/", env=env)  # fmt: skip
    return process, env, threading.Lock()


def run(words: list[str], cwd, env: dict, timeout: float | None = None, prefix=()) -> subprocess.CompletedProcess:
    """`python -m snakemake WORDS` in `cwd` with exactly `env`: its exit status and output; under
    `prefix` (a command that runs the rest, such as `unshare --net`) where one is given."""
    command = [sys.executable, "-m", "snakemake", *words]
    server, server_env, one_at_a_time = _server()
    if prefix or any(env.get(n) != server_env.get(n) for n in {*env, *server_env} if read_at_start(n)):
        return subprocess.run([*prefix, *command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    with tempfile.TemporaryDirectory() as folder, one_at_a_time:
        out, err = os.path.join(folder, "stdout"), os.path.join(folder, "stderr")
        request = {"words": list(words), "cwd": str(cwd), "env": env, "out": out, "err": err}
        server.stdin.write(json.dumps(request) + "\n")
        server.stdin.flush()
        pid = int(server.stdout.readline())
        timed_out = threading.Event()
        killer = threading.Timer(timeout or 0, lambda: timed_out.set() or os.kill(pid, signal.SIGKILL))
        if timeout:
            killer.start()
        returncode = int(server.stdout.readline())
        killer.cancel()
        if timed_out.is_set():
            raise subprocess.TimeoutExpired(command, timeout)
        with open(out) as stdout, open(err) as stderr:
            return subprocess.CompletedProcess(command, returncode, stdout.read(), stderr.read())


if __name__ == "__main__":
    serve()
