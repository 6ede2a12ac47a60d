"""Contract tests: the pygls internals ``greycloud_lsp/_pygls_compat.py`` relies on.

Each test exercises one internal through real pygls objects. When a pygls
upgrade moves one, the failure names it and the module to update.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.protocol import JsonRPCProtocol
from pygls.workspace import Workspace

from greycloud_lsp import _pygls_compat as compat
from greycloud_lsp.common.documents import LspTextDocument, LspWorkspace

FIX = "pygls changed an internal greycloud_lsp/_pygls_compat.py relies on; update that module"


class Collect:
    """A pygls writer that keeps what the server sends."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def write(self, data: bytes) -> None:
        body = data.split(b"\r\n\r\n", 1)[1]
        self.messages.append(json.loads(body))

    def close(self) -> None:
        pass


def _server() -> LanguageServer:
    server = LanguageServer("compat", "0", protocol_cls=compat.GreyCloudProtocol)
    server.protocol.set_writer(Collect())
    return server


def _receive(server: LanguageServer, message: dict[str, Any]) -> None:
    protocol = server.protocol
    protocol.handle_message(
        json.loads(
            json.dumps({"jsonrpc": "2.0", **message}), object_hook=protocol.structure_message
        )
    )


def test_cancel_notification_reaches_the_listener():
    assert hasattr(JsonRPCProtocol, "_handle_cancel_notification"), (
        f"{FIX}: JsonRPCProtocol._handle_cancel_notification is gone"
    )
    params = list(inspect.signature(JsonRPCProtocol._handle_cancel_notification).parameters)
    assert params == ["self", "msg_id"], f"{FIX}: _handle_cancel_notification{params}"
    server = _server()
    heard: list[Any] = []
    server.protocol.cancel_listener = heard.append  # type: ignore[attr-defined]
    _receive(server, {"method": "$/cancelRequest", "params": {"id": 7}})
    assert heard == [7], f"{FIX}: $/cancelRequest no longer calls _handle_cancel_notification"


def test_the_workspace_can_be_replaced():
    server = _server()
    assert hasattr(server.protocol, "_workspace"), f"{FIX}: protocol._workspace is gone"
    workspace = LspWorkspace(None, types.TextDocumentSyncKind.Incremental)
    compat.replace_workspace(server, workspace)
    assert server.workspace is workspace, f"{FIX}: server.workspace ignores protocol._workspace"


def test_the_workspace_creates_our_documents():
    assert hasattr(Workspace, "_create_text_document"), (
        f"{FIX}: Workspace._create_text_document is gone"
    )
    workspace = LspWorkspace(None, types.TextDocumentSyncKind.Incremental)
    workspace.put_text_document(
        types.TextDocumentItem(uri="file:///a.txt", language_id="text", version=1, text="a\x0cb")
    )
    document = workspace.get_text_document("file:///a.txt")
    assert isinstance(document, LspTextDocument), (
        f"{FIX}: Workspace no longer creates documents with _create_text_document"
    )
    assert document.lines == ("a\x0cb",)


def test_shutdown_is_recorded_before_exit():
    server = _server()
    assert compat.shutdown_requested(server) is False
    _receive(server, {"id": 1, "method": "shutdown"})
    assert compat.shutdown_requested(server) is True, f"{FIX}: protocol._shutdown not set"


async def test_serve_runs_until_the_server_stops():
    server = _server()
    reader = asyncio.StreamReader()
    writer = Collect()
    serving = asyncio.ensure_future(compat.serve(server, reader, writer))

    def send(message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        reader.feed_data(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))

    send({"id": 1, "method": "shutdown"})
    for _ in range(100):
        if writer.messages:
            break
        await asyncio.sleep(0.01)
    assert writer.messages and writer.messages[0]["id"] == 1, f"{FIX}: serve() answered nothing"
    server.shutdown()  # sets _stop_event: the loop ends at the next message
    send({"method": "initialized", "params": {}})
    await asyncio.wait_for(serving, 5)
    assert server._stop_event is not None and server._stop_event.is_set(), (
        f"{FIX}: Server._stop_event is not what shutdown() sets"
    )


async def test_execute_command_notes_the_work_done_token():
    server = _server()

    @server.command("compat.token")
    def token(ls: Any, *args: Any) -> Any:
        return compat.WORK_DONE_TOKEN.get()

    _receive(
        server,
        {
            "id": 3,
            "method": "workspace/executeCommand",
            "params": {"command": "compat.token", "arguments": [], "workDoneToken": "tok-1"},
        },
    )
    writer = server.protocol.writer
    for _ in range(100):
        if writer.messages:
            break
        await asyncio.sleep(0.01)
    assert writer.messages == [{"jsonrpc": "2.0", "id": 3, "result": "tok-1"}], (
        f"{FIX}: lsp_workspace__execute_command / lsp_method no longer run our override"
    )


async def test_an_expected_error_is_answered_without_a_traceback(caplog):
    assert hasattr(JsonRPCProtocol, "_send_handler_result"), (
        f"{FIX}: JsonRPCProtocol._send_handler_result is gone"
    )
    params = list(inspect.signature(JsonRPCProtocol._send_handler_result).parameters)
    assert params == ["self", "future", "msg_id"], f"{FIX}: _send_handler_result{params}"
    from pygls.exceptions import JsonRpcInvalidParams

    server = _server()

    @server.command("compat.refuse")
    async def refuse(ls: Any, *args: Any) -> Any:
        raise JsonRpcInvalidParams("compat.refuse: name: required")

    caplog.set_level("DEBUG")
    _receive(
        server,
        {"id": 4, "method": "workspace/executeCommand", "params": {"command": "compat.refuse"}},
    )
    writer = server.protocol.writer
    for _ in range(100):
        if writer.messages:
            break
        await asyncio.sleep(0.01)
    assert writer.messages[0]["error"]["code"] == -32602, f"{FIX}: no error response"
    warnings = [r for r in caplog.records if r.levelname in ("WARNING", "ERROR")]
    assert [r.getMessage() for r in warnings] == [
        "request 4 failed: compat.refuse: name: required"
    ], f"{FIX}: _send_handler_result no longer runs our override"
    assert all(r.exc_info is None for r in warnings)
    (debug,) = [r for r in caplog.records if r.levelname == "DEBUG" and r.exc_info]
    assert debug.file_only is True
