"""Helpers shared by the greycloud-lsp tests (importable, unlike conftest)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from tests.helpers import NO_HANG

SERVER = [sys.executable, "-m", "greycloud_lsp"]
MODE_ARGS = {"standalone": ["--standalone"], "daemon": []}
"""``greycloud-lsp`` as one process, or (the default editors get) a forwarder to the daemon."""

Session = Callable[..., Awaitable[LanguageClient]]


async def server_capabilities() -> types.ServerCapabilities:
    """What a freshly started standalone server advertises to a VS Code-like client."""
    command = [*SERVER, *MODE_ARGS["standalone"]]
    client = await ClientServerConfig(server_command=command).start()
    try:
        result = await client.initialize_session(
            types.InitializeParams(capabilities=client_capabilities("visual-studio-code"))
        )
        await client.shutdown_session()
    finally:
        await client.stop()
    return result.capabilities


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
        self, method: str, predicate: Callable[[Any], bool], timeout: float = NO_HANG
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


async def counted(client: LanguageClient, uri: str) -> Any:
    """Wait for the exact live count of an open document.

    A test that asserts on what the emulator saw waits for this first: the live
    count is the session's own background request and may land at any time.
    """
    recorder = client.recorder  # type: ignore[attr-defined]
    return await recorder.wait_for("greycloud/tokenCount", lambda n: n["uri"] == uri and n["exact"])


def record_apply_edits(client: LanguageClient) -> list[types.ApplyWorkspaceEditParams]:
    """Accept every ``workspace/applyEdit`` from the server and keep its params."""
    edits: list[types.ApplyWorkspaceEditParams] = []

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(ls: Any, params: types.ApplyWorkspaceEditParams) -> Any:  # pygls: by name
        edits.append(params)
        return types.ApplyWorkspaceEditResult(applied=True)

    return edits


@contextlib.asynccontextmanager
async def language_servers(
    default_root: Path,
    *,
    client_name: str = "visual-studio-code",
    args: list[str] | None = None,
    mode: str = "standalone",
) -> AsyncIterator[Session]:
    """Yield ``start(...)``, which spawns and initialises ``greycloud-lsp``.

    ``start`` takes ``settings`` (served as section ``greycloud`` of
    ``workspace/configuration`` when not None), ``init_options``, ``workspace``
    (default ``default_root``), ``env`` (added to this process's; None removes a
    variable), ``args`` and
    ``client_name`` (pytest-lsp capabilities). The client gets a ``recorder``.
    ``mode`` is ``"standalone"`` or ``"daemon"`` (sessions share the daemon of
    this test's ``XDG_RUNTIME_DIR``). Every server is shut down (bounded) and
    stopped on exit.
    """
    clients: list[LanguageClient] = []
    default_client = client_name

    async def start(
        *,
        settings: dict[str, Any] | None = None,
        init_options: dict[str, Any] | None = None,
        workspace: Path | None = None,
        env: dict[str, str | None] | None = None,
        args: list[str] | None = None,
        client_name: str = default_client,
    ) -> LanguageClient:
        merged = {**os.environ, **(env or {})}
        server_env = {name: value for name, value in merged.items() if value is not None}
        command = [*SERVER, *base_args, *(args or [])]
        client = await ClientServerConfig(server_command=command, server_env=server_env).start()
        clients.append(client)
        client.recorder = Recorder(client)  # type: ignore[attr-defined]
        if settings is not None:
            client.set_configuration(settings, section="greycloud")
        root = workspace or default_root
        await client.initialize_session(
            types.InitializeParams(
                capabilities=client_capabilities(client_name),
                root_uri=root.as_uri(),
                workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name=root.name)],
                initialization_options=init_options,
            )
        )
        return client

    base_args = [*MODE_ARGS[mode], *(args or [])]
    try:
        yield start
    finally:
        for client in clients:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.shutdown_session(), 10)
            await client.stop()
