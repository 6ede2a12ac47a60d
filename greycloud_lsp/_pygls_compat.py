"""Every use of a pygls internal, in one place (pygls 2.x).

pygls offers no public way to do these; each is checked by a contract test in
``tests/lsp/test_pygls_compat.py`` that names this module when a pygls upgrade
moves the internal. Nothing else in ``greycloud_lsp`` touches private pygls
attributes.

* ``JsonRPCProtocol._handle_cancel_notification``: overridden to hear
  ``$/cancelRequest`` for command handlers pygls runs as separate tasks.
* ``lsp_method`` and ``LanguageServerProtocol.lsp_workspace__execute_command``:
  overridden to note the ``workDoneToken`` of the command being handled.
* ``LanguageServerProtocol._workspace``: replaced after ``initialize`` by a
  workspace with LSP line semantics.
* ``Workspace._create_text_document``: overridden so that workspace creates
  our document class.
* ``JsonRPCProtocol._send_handler_result`` (and ``_request_futures``,
  ``_send_response``): overridden so that an expected error (a
  ``JsonRpcException`` a handler raised: invalid params, a refused cache) is
  answered with one log line, its traceback at debug level only; pygls logs
  every such error with ``logger.exception``, which reached the editor as an
  Error ``window/logMessage`` with a full traceback.
* ``JsonRPCProtocol._shutdown``: whether ``shutdown`` came before ``exit``.
* ``Server._stop_event``: what ``run_async`` watches; set by pygls' own
  ``shutdown``/``exit`` handling, and by `request_stop` (the daemon).
* ``LanguageServerProtocol.lsp_exit`` (a generator yielding the user handler)
  and ``lsp_method``: overridden so that, in the daemon, ``exit`` ends one
  session instead of calling ``sys.exit``.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable, Generator
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInternalError
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method
from pygls.workspace import TextDocument, Workspace

from greycloud_lsp.common.log_files import FILE_ONLY

log = logging.getLogger(__name__)


WORK_DONE_TOKEN: contextvars.ContextVar[str | int | None] = contextvars.ContextVar(
    "work_done_token", default=None
)
"""The ``workDoneToken`` of the ``workspace/executeCommand`` being handled (client-chosen)."""


class GreyCloudProtocol(LanguageServerProtocol):
    """pygls' protocol that also tells ``cancel_listener`` about ``$/cancelRequest``,
    sets `WORK_DONE_TOKEN` for each ``workspace/executeCommand`` and answers an
    expected error with one log line (its traceback goes to log files at debug)."""

    cancel_listener: Callable[[Any], None] | None = None
    ends_session_only: Callable[[], bool] = staticmethod(lambda: False)  # type: ignore[assignment]
    """True in the daemon: ``exit`` runs the user handler only, never ``sys.exit``."""

    @lsp_method(types.EXIT)
    def lsp_exit(self, *args: Any) -> Any:
        if not self.ends_session_only():
            return (yield from super().lsp_exit(*args))
        if (user_handler := self.fm.features.get(types.EXIT)) is not None:
            yield user_handler, args, None

    def _send_handler_result(self, future: Any, *, msg_id: Any) -> None:
        error = None if future.cancelled() else future.exception()
        if not isinstance(error, JsonRpcException) or isinstance(error, JsonRpcInternalError):
            super()._send_handler_result(future, msg_id=msg_id)  # a bug: pygls' traceback
            return
        self._request_futures.pop(msg_id, None)
        log.warning("request %s failed: %s", msg_id, error)
        log.debug("request %s failed here:", msg_id, exc_info=error, extra=FILE_ONLY)
        self._send_response(msg_id, error=error.to_response_error())

    def _handle_cancel_notification(self, msg_id: Any) -> None:
        if self.cancel_listener is not None:
            self.cancel_listener(msg_id)
        super()._handle_cancel_notification(msg_id)

    @lsp_method(types.WORKSPACE_EXECUTE_COMMAND)
    def lsp_workspace__execute_command(
        self, params: types.ExecuteCommandParams
    ) -> Generator[Any, Any, Any]:
        WORK_DONE_TOKEN.set(params.work_done_token)
        return (yield from super().lsp_workspace__execute_command(params))


class DocumentClassWorkspace(Workspace):
    """A pygls workspace whose documents are instances of ``document_class``."""

    document_class: type[TextDocument] = TextDocument

    def _create_text_document(
        self,
        doc_uri: str,
        source: str | None = None,
        version: int | None = None,
        language_id: str | None = None,
    ) -> TextDocument:
        return self.document_class(
            doc_uri,
            source=source,
            version=version,
            language_id=language_id,
            sync_kind=types.TextDocumentSyncKind.Incremental,
            position_codec=self.position_codec,
        )


def replace_workspace(server: LanguageServer, workspace: Workspace) -> None:
    """Make ``server.workspace`` return ``workspace`` from now on."""
    server.protocol._workspace = workspace


def shutdown_requested(server: LanguageServer) -> bool:
    """True once the client sent ``shutdown`` (so ``exit`` is orderly)."""
    return bool(server.protocol._shutdown)


async def serve(server: LanguageServer, reader: Any, writer: Any) -> None:
    """Run ``server`` over one connection until the reader ends or ``exit`` arrives.

    ``reader`` has async ``readline``/``readexactly`` (e.g. an
    ``asyncio.StreamReader`` or pygls' ``StdinAsyncReader``); ``writer`` is a
    pygls writer (``write``/``close``).
    """
    from pygls.io_ import run_async

    server._stop_event = stop_event = threading.Event()
    server.protocol.set_writer(writer)
    await run_async(
        stop_event=stop_event,
        reader=reader,
        protocol=server.protocol,
        logger=logging.getLogger("pygls.io"),
        error_handler=server.report_server_error,
    )


def request_stop(server: LanguageServer) -> None:
    """Make `serve` return after the message being handled (the daemon ends a session)."""
    event = getattr(server, "_stop_event", None)
    if event is not None:
        event.set()
