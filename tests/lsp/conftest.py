"""Fixtures: a greycloud-lsp subprocess talking to the test's emulator over real HTTP."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from tests.lsp.lsp_helpers import Recorder

CLIENTS = ["visual-studio-code", "neovim"]
SERVER = [sys.executable, "-m", "greycloud_lsp", "--log-level", "DEBUG"]

Session = Callable[..., Awaitable[LanguageClient]]


@pytest.fixture(params=CLIENTS)
def client_name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest_asyncio.fixture
async def start_session(client_name: str, adc_env: Any, tmp_path: Path) -> AsyncIterator[Session]:
    """Start ``greycloud-lsp`` and initialise it; call with settings/workspace options."""
    clients: list[LanguageClient] = []

    async def start(
        *,
        settings: dict[str, Any] | None = None,
        init_options: dict[str, Any] | None = None,
        workspace: Path | None = None,
        env: dict[str, str] | None = None,
        args: list[str] | None = None,
    ) -> LanguageClient:
        server_env = dict(os.environ)
        server_env.update(env or {})
        config = ClientServerConfig(server_command=[*SERVER, *(args or [])], server_env=server_env)
        client = await config.start()
        clients.append(client)
        client.recorder = Recorder(client)  # type: ignore[attr-defined]
        if settings is not None:
            client.set_configuration(settings, section="greycloud")
        root = workspace or tmp_path
        await client.initialize_session(
            types.InitializeParams(
                capabilities=client_capabilities(client_name),
                root_uri=root.as_uri(),
                workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name=root.name)],
                initialization_options=init_options,
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
