"""The one exception type for user mistakes (bad files, bad arguments).

The CLI prints its message on one line, with no traceback, and exits with status 2.
"""

from __future__ import annotations

from pathlib import Path


class UserError(Exception):
    """A problem with the user's input; the message names the file and the problem."""

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        super().__init__(f"{path}: {message}" if path is not None else message)
