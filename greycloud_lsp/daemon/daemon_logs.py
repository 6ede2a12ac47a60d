"""Daemon logging: its own private log file, plus each session's records to that session."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

from greycloud_lsp.common.log_files import level_number, log_file_handler, logger_level
from greycloud_lsp.common.logging_setup import LOGGERS
from greycloud_lsp.daemon.attached_session import SessionLogRouter
from greycloud_lsp.wire.socket_paths import open_private

MAX_LOG_BYTES = 5 * 1024 * 1024
_daemon_level: int | None = None
"""The daemon's ``--log-level`` (None: `setup_daemon_logging` has not run)."""


def setup_daemon_logging(log_file: Path, level: str = "INFO") -> None:
    """Log to ``log_file`` (0600, rotated once past 5 MB) and route session records."""
    try:
        if log_file.stat().st_size > MAX_LOG_BYTES:
            os.replace(log_file, log_file.with_suffix(".log.1"))
    except OSError:
        pass
    os.close(open_private(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND))
    global _daemon_level
    numeric = _daemon_level = level_number(level)
    file_handler = log_file_handler(log_file, numeric)
    if numeric > logging.DEBUG:  # pygls logs every message it sends at INFO: drop those
        # before the redaction filter rather than after it has rewritten them
        file_handler.filters.insert(0, lambda r: not r.name.startswith("pygls") or r.levelno >= 30)
    router = SessionLogRouter()
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(logger_level(name, numeric))
        logger.propagate = False
        logger.addHandler(file_handler)
        logger.addHandler(router)


def follow_sessions(levels: Iterable[str]) -> None:
    """Set the loggers to the lowest of the daemon's level and the attached sessions' levels.

    Called whenever a session attaches or leaves: a session asking for DEBUG
    lowers the loggers while it is attached, and they rise again once it has
    gone. Each session's own handlers keep their own level, so another
    session's log never gets more than it asked for.
    """
    if _daemon_level is None:
        return  # not the daemon's process (in-process tests): leave logging alone
    numeric = min([_daemon_level, *(level_number(level) for level in levels)])
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logger_level(name, numeric))
