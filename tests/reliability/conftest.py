"""Fixtures for the reliability suite: a greycloud-lsp subprocess per test."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest_asyncio
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from tests.lsp.lsp_helpers import Recorder

SERVER = [sys.executable, "-m", "greycloud_lsp"]

StartServer = Callable[..., Awaitable[LanguageClient]]


@pytest_asyncio.fixture
async def lsp(adc_env: Any, tmp_path: Path) -> AsyncIterator[StartServer]:
    """Start and initialise ``greycloud-lsp`` against the test's emulator.

    Call with ``settings=``, ``workspace=``, ``env=``, ``args=``; the client has
    a ``recorder`` (custom notifications) and ``server_pid``. Every server is
    shut down (bounded) and stopped at the end of the test.
    """
    clients: list[LanguageClient] = []

    async def start(
        *,
        settings: dict[str, Any] | None = None,
        workspace: Path | None = None,
        env: dict[str, str] | None = None,
        args: list[str] | None = None,
        client_name: str = "visual-studio-code",
    ) -> LanguageClient:
        server_env = dict(os.environ)
        server_env.update(env or {})
        config = ClientServerConfig(server_command=[*SERVER, *(args or [])], server_env=server_env)
        client = await config.start()
        clients.append(client)
        client.recorder = Recorder(client)  # type: ignore[attr-defined]
        client.set_configuration(settings or {}, section="greycloud")
        root = workspace or tmp_path
        await client.initialize_session(
            types.InitializeParams(
                capabilities=client_capabilities(client_name),
                root_uri=root.as_uri(),
                workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name=root.name)],
            )
        )
        return client

    yield start
    for client in clients:
        try:
            await asyncio.wait_for(client.shutdown_session(), 10)
        except Exception:
            pass
        await client.stop()
