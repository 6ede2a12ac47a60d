"""One editor session inside the daemon: a ``GreyCloudLanguageServer`` on one connection.

pygls serves one client per ``LanguageServer`` (pygls issue #219), so each
connection gets its own server over the daemon's `SharedState`. Logging is
routed by a context variable: a record emitted while handling session A goes
to A's ``window/logMessage`` (and A's ``--log-file``), never to B.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from greycloud.redaction import RedactingFilter
from greycloud_lsp._pygls_compat import request_stop, serve
from greycloud_lsp.common.log_files import level_number, log_file_handler
from greycloud_lsp.common.logging_setup import LspLogHandler
from greycloud_lsp.wire.framing import encode
from greycloud_lsp.wire.handshake import SESSION_ENDED

if TYPE_CHECKING:
    from greycloud_lsp.server import GreyCloudLanguageServer
    from greycloud_lsp.shared_state import SharedState

log = logging.getLogger(__name__)

CURRENT: contextvars.ContextVar[AttachedSession | None] = contextvars.ContextVar(
    "greycloud_session", default=None
)
CLEANUP_SECONDS = 1.5


class AttachedSession:
    """A connected forwarder, served as its own LSP session."""

    def __init__(
        self,
        number: int,
        shared: SharedState,
        environ: Mapping[str, str],
        *,
        peer_pid: int | None = None,
        editor_pid: int | None = None,
        window: str | None = None,
        log_file: str | None = None,
        log_level: str = "INFO",
    ) -> None:
        self.number = number
        self.window = window
        """The forwarder's window id: the same across daemons (it replays under it)."""
        self.shared = shared
        self.environ = dict(environ)
        self.peer_pid = peer_pid
        self.editor_pid = editor_pid
        self.started = time.time()
        self.log_file = log_file
        self.log_level = log_level
        self.server: GreyCloudLanguageServer | None = None
        self._handlers: list[logging.Handler] = []
        self._writer: asyncio.StreamWriter | None = None

    @property
    def idle_timeout(self) -> float | None:
        """The daemon idle timeout this session's settings ask for (``daemon.idleTimeout``)."""
        return None if self.server is None else self.server.settings.daemon.idle_timeout

    async def run(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve LSP until the forwarder disconnects or the editor sends ``exit``."""
        from greycloud_lsp.server import create_server

        CURRENT.set(self)
        self._writer = writer
        server = self.server = create_server(self.shared, environ=self.environ)
        server.exit_hook = self.end
        if self.window is not None:
            server.window = (self.window, self.peer_pid)
        self._add_log_handlers(server)
        log.info("session %s: connected (forwarder pid %s)", self.number, self.peer_pid)
        if self.shared.emulator_url:  # as the standalone server logs it at start
            log.info("embedded emulator at %s", self.shared.emulator_url)
        try:
            await serve(server, reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            log.info("session %s: connection lost: %s", self.number, exc)
        finally:
            await self.close()

    def end(self, code: int = 0, *, final: bool = True) -> None:
        """Stop reading and hang up.

        ``final``: the editor said ``exit`` or went away, so the forwarder
        should exit with ``code`` too (it is told with ``SESSION_ENDED``).
        Otherwise (the daemon stops) the forwarder replays into a new daemon.
        """
        log.info("session %s: ending (code %s)", self.number, code)
        if self.server is not None:
            request_stop(self.server)
        if self._writer is not None and not self._writer.is_closing():
            if final:
                ended = {"jsonrpc": "2.0", "method": SESSION_ENDED, "params": {"code": code}}
                self._writer.write(encode(ended))
            self._writer.close()

    async def close(self) -> None:
        """Drop documents and generations, release caches (bounded)."""
        server = self.server
        if server is not None:
            await server.cleanup(timeout=CLEANUP_SECONDS)
        if self._writer is not None and not self._writer.is_closing():
            self._writer.close()
        for handler in self._handlers:
            handler.close()
        self._handlers = []
        log.info("session %s: closed", self.number)

    # -- logging --------------------------------------------------------------

    def _add_log_handlers(self, server: GreyCloudLanguageServer) -> None:
        level = level_number(self.log_level)
        lsp = LspLogHandler(server, level)
        lsp.setFormatter(logging.Formatter("[%(name)s] %(message)s"))
        lsp.loop = asyncio.get_running_loop()
        self._handlers.append(lsp)
        if self.log_file:
            try:
                self._handlers.append(log_file_handler(self.log_file, level))
            except OSError as exc:
                log.warning("session %s: cannot open log file: %s", self.number, exc)

    def handle_record(self, record: logging.LogRecord) -> None:
        for handler in self._handlers:
            if record.levelno >= handler.level:
                handler.handle(record)

    # -- status ---------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        server = self.server
        documents = generations = 0
        completions: dict[str, int] | None = None
        folders: list[str] = []
        if server is not None:
            try:
                workspace = server.workspace
                documents = len(workspace.text_documents)
                folders = sorted(workspace.folders)
            except RuntimeError:  # not initialized yet
                pass
            from greycloud_lsp.features.generation.generate_command import Generations

            generations = len(server.get_feature(Generations).runs)
            from greycloud_lsp.common.payload_conversion import dump
            from greycloud_lsp.features.inline_completion.handler import Completions

            completions = dump(server.get_feature(Completions).stats)
        return {
            "id": self.number,
            "window": self.window,
            "forwarderPid": self.peer_pid,
            "editorPid": self.editor_pid,
            "connectedSeconds": round(time.time() - self.started, 1),
            "workspaceFolders": folders,
            "documents": documents,
            "generations": generations,
            "completions": completions,
        }


class SessionLogRouter(logging.Handler):
    """Sends each record to the session whose work emitted it (if any)."""

    def __init__(self, level: int = logging.DEBUG) -> None:
        super().__init__(level)
        self.addFilter(RedactingFilter())

    def emit(self, record: logging.LogRecord) -> None:
        session = CURRENT.get()
        if session is not None:
            session.handle_record(record)
