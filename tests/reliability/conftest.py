"""Fixtures for the reliability suite: a greycloud-lsp subprocess per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest_asyncio
from pytest_lsp import LanguageClient

from tests.lsp.lsp_helpers import language_servers

StartServer = Callable[..., Awaitable[LanguageClient]]


@pytest_asyncio.fixture
async def lsp(adc_env: Any, tmp_path: Path) -> AsyncIterator[StartServer]:
    """Start and initialise ``greycloud-lsp`` against the test's emulator.

    Call with ``settings=``, ``workspace=``, ``env=``, ``args=``; the client has
    a ``recorder`` (custom notifications). Every server is
    shut down (bounded) and stopped at the end of the test.
    """
    async with language_servers(tmp_path) as start:

        async def start_with_settings(
            *, settings: dict[str, Any] | None = None, **options: Any
        ) -> LanguageClient:
            return await start(settings=settings or {}, **options)

        yield start_with_settings
