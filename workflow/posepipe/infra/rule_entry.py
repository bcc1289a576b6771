"""How a rule's work runs: a `script:` rule's process (run_rule) and a `run:` rule's body inside
Snakemake's own process (in_rule_log). Either way a PosepipeError is one line, never a traceback."""

import io
import logging
import sys
from collections.abc import Callable

from posepipe.infra.errors import PosepipeError


class _Tee(io.TextIOBase):
    """A text stream writing to several streams: the console and the rule's log file."""

    def __init__(self, *streams):
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
            stream.flush()
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()


def run_rule(main: Callable[[], object], log_file: str | None = None) -> None:
    """Run a rule's work with everything it prints (Ultralytics' output included) going to the
    console and the rule's log; a PosepipeError becomes one line and exit status 1, no traceback."""
    if log_file:
        log = open(log_file, "w", buffering=1)  # noqa: SIM115 (open for the life of the process)
        sys.stdout, sys.stderr = _Tee(sys.__stdout__, log), _Tee(sys.__stderr__, log)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s", stream=sys.stderr, force=True)
    try:
        main()
    except PosepipeError as error:
        logging.getLogger("posepipe").error("error: %s", error)
        sys.exit(1)


def in_rule_log(rule_log: str, function: Callable[..., str], /, **arguments) -> None:
    """A `run:` rule's work, logged to its log file; a PosepipeError becomes Snakemake's one-line
    WorkflowError (this runs inside Snakemake's process, which must not exit)."""
    from snakemake.exceptions import WorkflowError

    handler = logging.FileHandler(rule_log, mode="w")
    logger = logging.getLogger("posepipe")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.info(function(**arguments))
    except PosepipeError as error:
        raise WorkflowError(f"posepipe: error: {error}") from None
    finally:
        logger.removeHandler(handler)
        handler.close()
