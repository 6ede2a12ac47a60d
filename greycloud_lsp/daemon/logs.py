"""Daemon logging: its own private log file, plus each session's records to that session."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..log_files import log_file_handler
from ..logging_setup import LOGGERS
from .connection import SessionLogRouter
from .paths import open_private

MAX_LOG_BYTES = 5 * 1024 * 1024


def _level(name: str) -> int:
    level = logging.getLevelName(name.upper())
    return level if isinstance(level, int) else logging.INFO


def setup_daemon_logging(log_file: Path, level: str = "INFO") -> None:
    """Log to ``log_file`` (0600, rotated once past 5 MB) and route session records."""
    try:
        if log_file.stat().st_size > MAX_LOG_BYTES:
            os.replace(log_file, log_file.with_suffix(".log.1"))
    except OSError:
        pass
    os.close(open_private(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND))
    numeric = _level(level)
    file_handler = log_file_handler(log_file, numeric)
    if numeric > logging.DEBUG:  # pygls logs every message it sends at INFO
        file_handler.addFilter(lambda r: not r.name.startswith("pygls") or r.levelno >= 30)
    router = SessionLogRouter()
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(max(numeric, logging.INFO) if name == "pygls" else numeric)
        logger.propagate = False
        logger.addHandler(file_handler)
        logger.addHandler(router)


def session_wants(level: str) -> None:
    """Lower logger levels so a session asking for ``level`` gets its records."""
    numeric = _level(level)
    for name in LOGGERS:
        logger = logging.getLogger(name)
        wanted = max(numeric, logging.INFO) if name == "pygls" else numeric
        if wanted < logger.level:
            logger.setLevel(wanted)
