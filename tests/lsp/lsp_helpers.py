"""Helpers shared by the greycloud-lsp tests (importable, unlike conftest)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from lsprotocol import types
from pytest_lsp import LanguageClient


class Recorder:
    """Collects custom notifications the server sends."""

    def __init__(self, client: LanguageClient):
        self.notifications: dict[str, list[Any]] = {}
        self.events: dict[str, asyncio.Event] = {}
        for method in (
            "greycloud/generationChunk",
            "greycloud/tokenCount",
            "greycloud/cacheStatus",
        ):
            client.feature(method)(self._handler(method))

    def _handler(self, method: str) -> Callable[[Any, Any], None]:
        def handle(ls: Any, params: Any) -> None:
            self.notifications.setdefault(method, []).append(_plain(params))
            self.events.setdefault(method, asyncio.Event()).set()

        return handle

    def of(self, method: str) -> list[Any]:
        return self.notifications.get(method, [])

    async def wait_for(
        self, method: str, predicate: Callable[[Any], bool], timeout: float = 10.0
    ) -> Any:
        async def poll() -> Any:
            while True:
                for item in self.of(method):
                    if predicate(item):
                        return item
                event = self.events.setdefault(method, asyncio.Event())
                event.clear()
                await event.wait()

        return await asyncio.wait_for(poll(), timeout)


def _plain(value: Any) -> Any:
    """pygls hands unknown notifications over as namedtuple-ish objects; make dicts."""
    if hasattr(value, "_asdict"):
        return {k: _plain(v) for k, v in value._asdict().items()}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


async def execute(client: LanguageClient, command: str, *arguments: Any) -> Any:
    """``workspace/executeCommand`` returning the raw result."""
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=command, arguments=list(arguments))
    )


def open_document(client: LanguageClient, uri: str, text: str, version: int = 1) -> None:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="markdown", version=version, text=text
            )
        )
    )
