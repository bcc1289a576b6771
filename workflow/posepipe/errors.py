"""The pipeline's error type for bad input, and the entry point rule scripts run through."""

import logging
import sys
from collections.abc import Callable


class PosepipeError(Exception):
    """Bad input or a failed check: its message is one line naming the file, the record and the fault."""


def run_rule(main: Callable[[], object], log_file: str | None = None) -> None:
    """Run a rule's work with logging to stderr and the rule's log; a PosepipeError becomes one
    line on stderr (and in the log) and exit status 1, never a traceback."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        handlers.append(logging.FileHandler(log_file, mode="w"))
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s", handlers=handlers, force=True)
    try:
        main()
    except PosepipeError as error:
        logging.getLogger("posepipe").error("error: %s", error)
        sys.exit(1)
