"""Contract tests for the pygls internals daemon mode uses (in ``greycloud_lsp/_pygls_compat.py``)."""

from __future__ import annotations

import asyncio
import json

import pytest
from lsprotocol import types
from pygls.lsp.server import LanguageServer

from greycloud_lsp import _pygls_compat as compat
from tests.lsp.test_pygls_compat import FIX, Collect


def _server(ends_session_only: bool) -> tuple[LanguageServer, list[str]]:
    server = LanguageServer("compat", "0", protocol_cls=compat.GreyCloudProtocol)
    server.protocol.set_writer(Collect())
    server.protocol.ends_session_only = lambda: ends_session_only  # type: ignore[attr-defined]
    calls: list[str] = []
    server.feature(types.EXIT)(lambda ls, *args: calls.append("exit"))
    return server, calls


def _exit(server: LanguageServer) -> None:
    message = json.dumps({"jsonrpc": "2.0", "method": "exit"})
    server.protocol.handle_message(
        json.loads(message, object_hook=server.protocol.structure_message)
    )


def test_exit_in_the_daemon_ends_only_the_session():
    server, calls = _server(ends_session_only=True)
    _exit(server)  # no SystemExit
    assert calls == ["exit"], f"{FIX}: lsp_exit no longer yields the user's exit handler"


def test_exit_standalone_still_ends_the_process():
    server, calls = _server(ends_session_only=False)
    with pytest.raises(SystemExit):
        _exit(server)
    assert calls == ["exit"], f"{FIX}: lsp_exit override broke pygls' own exit"


async def test_request_stop_ends_serve():
    server, _ = _server(ends_session_only=True)
    reader = asyncio.StreamReader()
    serving = asyncio.ensure_future(compat.serve(server, reader, Collect()))
    await asyncio.sleep(0.05)
    compat.request_stop(server)
    body = json.dumps({"jsonrpc": "2.0", "method": "initialized", "params": {}}).encode()
    reader.feed_data(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    await asyncio.wait_for(serving, 5)  # returns after the message in hand, before EOF
