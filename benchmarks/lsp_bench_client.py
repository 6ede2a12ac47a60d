"""A benchmark client for greycloud-lsp: one server subprocess, its notifications timed.

Shared by the ``bench_lsp`` scenarios (``lsp_scenarios.py``) and ``bench_daemon``.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient

LSP_COMMAND = [sys.executable, "-m", "greycloud_lsp", "--log-level", "WARNING"]
"""``greycloud-lsp`` as editors start it (a forwarder to the daemon)."""
SERVER = [*LSP_COMMAND, "--standalone"]


class Bench:
    """A client connected to one greycloud-lsp subprocess, recording notifications."""

    def __init__(self) -> None:
        self.client = LanguageClient("bench", "0")
        self.events: list[tuple[float, str, Any]] = []
        self.waiters: list[tuple[str, Any, asyncio.Future[Any]]] = []
        for method in ("greycloud/tokenCount", "greycloud/generationChunk"):
            self.client.feature(method)(self._record(method))

        @self.client.feature(types.WINDOW_WORK_DONE_PROGRESS_CREATE)
        def create(ls: Any, params: Any) -> None:
            return None

        @self.client.feature(types.PROGRESS)
        def progress(ls: Any, params: Any) -> None:
            return None

        @self.client.feature(types.WORKSPACE_CONFIGURATION)
        def configuration(ls: Any, params: Any) -> list[Any]:
            return [self.settings for _ in params.items]

        self.settings: dict[str, Any] = {}

    def _record(self, method: str) -> Any:
        def handle(ls: Any, params: Any) -> None:
            now = time.perf_counter()
            data = plain(params)
            self.events.append((now, method, data))
            for waiter in list(self.waiters):
                m, predicate, fut = waiter
                if m == method and not fut.done() and predicate(data):
                    fut.set_result((now, data))
                    self.waiters.remove(waiter)

        return handle

    async def wait(self, method: str, predicate: Any, timeout: float = 120) -> tuple[float, Any]:
        for at, m, data in self.events:
            if m == method and predicate(data):
                return at, data
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.waiters.append((method, predicate, fut))
        return await asyncio.wait_for(fut, timeout)

    async def start(
        self,
        env: dict[str, str],
        settings: dict[str, Any],
        root: Path,
        *,
        server: list[str] | None = None,
    ) -> float:
        """Spawn ``server`` (default: standalone) and initialize; seconds to the answer."""
        self.settings = settings
        started = time.perf_counter()
        await self.client.start_io(*(server or SERVER), env=env)
        caps = types.ClientCapabilities(
            window=types.WindowClientCapabilities(work_done_progress=True),
            workspace=types.WorkspaceClientCapabilities(configuration=True),
        )
        await self.client.initialize_async(
            types.InitializeParams(
                capabilities=caps,
                process_id=os.getpid(),
                root_uri=root.as_uri(),
                workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name="ws")],
            )
        )
        elapsed = time.perf_counter() - started
        self.client.initialized(types.InitializedParams())
        await asyncio.sleep(0.2)
        return elapsed

    async def stop(self) -> None:
        try:
            await asyncio.wait_for(self.client.shutdown_async(None), 10)
            self.client.exit(None)
        except Exception:
            pass
        await self.client.stop()

    @property
    def pid(self) -> int:
        return self.client._server.pid  # type: ignore[union-attr]

    def open(self, uri: str, text: str) -> None:
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id="plaintext", version=1, text=text
                )
            )
        )

    def insert(self, uri: str, version: int, text: str) -> None:
        pos = types.Position(line=0, character=0)
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(start=pos, end=pos), text=text
                    )
                ],
            )
        )

    async def execute(self, command: str, argument: Any) -> Any:
        return await self.client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=command, arguments=[argument])
        )


def plain(value: Any) -> Any:
    """JSON data from a pygls notification (it hands unknown objects over as namedtuples)."""
    if hasattr(value, "_asdict"):
        return {k: plain(v) for k, v in value._asdict().items()}
    return value


def document(size: int) -> str:
    """A text document of exactly ``size`` characters."""
    line = "The quick brown fox jumps over the lazy dog; pack my box with jugs.\n"
    return (line * (size // len(line) + 1))[:size]


def ms(seconds: float) -> float:
    """Seconds as milliseconds, rounded for the table."""
    return round(seconds * 1000, 2)
