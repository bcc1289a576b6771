"""The pipeline's error type for bad input."""


class PosepipeError(Exception):
    """Bad input or a failed check: its message is one line naming the file, the record and the fault."""
