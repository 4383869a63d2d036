"""Errors the CLI reports as one clear line instead of a traceback."""

from __future__ import annotations


class CliError(Exception):
    """A user-facing failure: bad input, missing file, failed run."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code
