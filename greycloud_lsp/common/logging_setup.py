"""Python logging -> ``window/logMessage`` (and an optional file), secrets redacted."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import TYPE_CHECKING

from lsprotocol import types

from greycloud.redaction import RedactingFilter
from greycloud_lsp.common.log_files import (
    is_file_only,
    level_number,
    log_file_handler,
    logger_level,
)

if TYPE_CHECKING:
    from greycloud_lsp.language_server import GreyCloudLanguageServer

LOGGERS = ("greycloud_lsp", "greycloud", "google_genai", "pygls")


_LEVELS = {
    logging.ERROR: types.MessageType.Error,
    logging.WARNING: types.MessageType.Warning,
    logging.INFO: types.MessageType.Info,
}


class LspLogHandler(logging.Handler):
    """Sends records to the client as ``window/logMessage``; safe from any thread."""

    def __init__(self, ls: GreyCloudLanguageServer, level: int = logging.INFO):
        super().__init__(level)
        self.ls = ls
        self._busy = threading.local()
        self.loop: asyncio.AbstractEventLoop | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(self._busy, "on", False) or self.ls.protocol.writer is None:
            return
        if is_file_only(record):  # e.g. the traceback of an expected error
            return
        # pygls' own debug chatter about sending messages would loop forever.
        if record.name.startswith("pygls") and record.levelno < logging.WARNING:
            return
        try:
            params = types.LogMessageParams(
                type=_LEVELS.get(record.levelno, types.MessageType.Log),
                message=self.format(record),
            )
        except Exception:
            self.handleError(record)
            return
        if self.loop is not None and threading.current_thread() is not threading.main_thread():
            self.loop.call_soon_threadsafe(self._send, params)
        else:
            self._send(params)

    def _send(self, params: types.LogMessageParams) -> None:
        self._busy.on = True
        try:
            self.ls.window_log_message(params)
        except Exception:
            pass
        finally:
            self._busy.on = False


def setup_logging(
    ls: GreyCloudLanguageServer, level: str = "INFO", log_file: str | None = None
) -> LspLogHandler:
    """Route GreyCloud, google-genai and pygls logs to the client and ``log_file``."""
    numeric = level_number(level)
    lsp_handler = LspLogHandler(ls, numeric)
    lsp_handler.setFormatter(logging.Formatter("[%(name)s] %(message)s"))
    lsp_handler.addFilter(RedactingFilter())  # a log file's handler redacts on its own
    handlers: list[logging.Handler] = [lsp_handler]
    if log_file:
        handlers.append(log_file_handler(log_file, numeric))
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(logger_level(name, numeric))
        logger.propagate = False
        for handler in handlers:
            logger.addHandler(handler)
    return lsp_handler
