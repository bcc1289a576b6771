"""The pipeline's error type for bad input, and the entry point rule scripts run through."""

import io
import logging
import sys
from collections.abc import Callable


class PosepipeError(Exception):
    """Bad input or a failed check: its message is one line naming the file, the record and the fault."""


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
