"""Log files the server writes (``--log-file``, the daemon's log): one format, private, redacted.

Imports nothing heavy, so the forwarder can use it at start-up.
"""

from __future__ import annotations

import logging
import os

from greycloud.redaction import RedactingFilter

FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

FILE_ONLY = {"file_only": True}
"""``extra=`` for a record that goes to log files but never to the editor (a traceback)."""


def is_file_only(record: logging.LogRecord) -> bool:
    """True for a record logged with ``extra=FILE_ONLY``."""
    return bool(getattr(record, "file_only", False))


def level_number(name: str) -> int:
    """``--log-level`` as a number (``INFO`` for a name logging does not know)."""
    level = logging.getLevelName(name.upper())
    return level if isinstance(level, int) else logging.INFO


def logger_level(logger_name: str, level: int) -> int:
    """The level a logger is set to: pygls logs every message it sends at INFO, so it
    never goes below INFO."""
    return max(level, logging.INFO) if logger_name == "pygls" else level


def log_file_handler(
    path: str | os.PathLike[str], level: int = logging.NOTSET, fmt: str = FILE_FORMAT
) -> logging.FileHandler:
    """A handler appending to ``path`` with secrets masked.

    A new file is created 0600 (logs quote prompts, paths and errors); an
    existing one keeps the mode its owner gave it. Raises ``OSError``.
    """
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600))
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter(fmt))
    handler.addFilter(RedactingFilter())
    return handler
