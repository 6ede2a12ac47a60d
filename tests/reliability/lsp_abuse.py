"""Helpers for abusing a live greycloud-lsp: requests with deadlines, hypothesis off the loop,
an LSP-exact client-side text model, and reading the server's document text back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import psutil
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient

from tests.helpers import NO_HANG

# Errors the server may answer a bad request with: InvalidParams, RequestFailed.
ACCEPTED_ERRORS = {-32602, -32803}
# A hang guard, not a speed target: on a machine whose cores are busy, counting a
# 50 MB document or working through thousands of queued notifications takes long.
ANSWER_TIMEOUT = NO_HANG
COMMANDS = (
    "greycloud.generate",
    "greycloud.countTokens",
    "greycloud.cacheWorkspace",
    "greycloud.listCaches",
    "greycloud.deleteCache",
    "greycloud.extendCache",
)
# Line terminators per the LSP specification; Python's str.splitlines knows more.
NON_LSP_LINE_BREAKS = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


async def command(client: LanguageClient, name: str, *arguments: Any) -> Any:
    """``workspace/executeCommand`` that must be answered within ``ANSWER_TIMEOUT``."""
    return await asyncio.wait_for(
        client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=name, arguments=list(arguments))
        ),
        ANSWER_TIMEOUT,
    )


async def answer(client: LanguageClient, name: str, *arguments: Any) -> tuple[str, Any]:
    """``("result", value)`` or ``("error", (code, message))``; a missing answer raises."""
    try:
        return "result", await command(client, name, *arguments)
    except JsonRpcException as exc:
        return "error", (getattr(exc, "code", None), str(exc))


def server_pid(client: LanguageClient) -> int:
    """PID of the server process pytest-lsp started."""
    return client._server.pid  # type: ignore[attr-defined]


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MB."""
    return psutil.Process(pid).memory_info().rss / 2**20


def on_loop(loop: asyncio.AbstractEventLoop) -> Callable[[Coroutine[Any, Any, Any]], Any]:
    """From a worker thread, run a coroutine on ``loop`` and wait for its value.

    Hypothesis drives examples synchronously; running it in a thread while the
    LSP client lives on the test's loop lets every example talk to one server.
    """

    def run(coro: Coroutine[Any, Any, Any], timeout: float = ANSWER_TIMEOUT + 5) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)

    return run


# -- an LSP-exact model of a document on the client side -----------------------------


def line_starts(text: str) -> list[int]:
    """Offsets where lines start, with only ``\\n``, ``\\r\\n`` and ``\\r`` ending lines."""
    starts = [0]
    i = 0
    while i < len(text):
        if text[i] == "\r" and text[i + 1 : i + 2] == "\n":
            i += 2
            starts.append(i)
            continue
        if text[i] in "\r\n":
            starts.append(i + 1)
        i += 1
    return starts


def position(text: str, offset: int) -> types.Position:
    """The LSP position (UTF-16 columns) of code-point ``offset`` in ``text``."""
    starts = line_starts(text)
    line = max(i for i, s in enumerate(starts) if s <= offset)
    column = sum(2 if ord(c) > 0xFFFF else 1 for c in text[starts[line] : offset])
    return types.Position(line=line, character=column)


def valid_offset(text: str, offset: int) -> int:
    """``offset``, moved off the middle of a ``\\r\\n`` pair."""
    if 0 < offset < len(text) and text[offset - 1] == "\r" and text[offset] == "\n":
        return offset - 1
    return offset


def change(
    text: str, start: int, end: int, new: str
) -> tuple[str, types.TextDocumentContentChangePartial]:
    """Apply an edit to the client's ``text``; return the new text and the LSP change."""
    start, end = sorted((valid_offset(text, start), valid_offset(text, end)))
    event = types.TextDocumentContentChangePartial(
        range=types.Range(start=position(text, start), end=position(text, end)), text=new
    )
    return text[:start] + new + text[end:], event


def did_change(
    client: LanguageClient,
    uri: str,
    version: int,
    changes: list[types.TextDocumentContentChangePartial],
) -> None:
    """Send ``textDocument/didChange``."""
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=changes,  # type: ignore[arg-type]
        )
    )


async def server_text(client: LanguageClient, emulator: Any, uri: str) -> str:
    """The server's text of ``uri``, exactly: what ``greycloud.generate`` sends upstream.

    ``includeDocument`` makes the server append the whole document as the second
    part of the user turn; the emulator records the request body verbatim.
    """
    before = len(emulator.state.requests_for("streamGenerateContent"))
    await command(
        client,
        "greycloud.generate",
        {"prompt": "echo [[words=1]]", "textDocument": {"uri": uri}, "includeDocument": True},
    )
    body = emulator.state.requests_for("streamGenerateContent")[before].body
    parts = body["contents"][0]["parts"]
    return parts[1]["text"] if len(parts) > 1 else ""
