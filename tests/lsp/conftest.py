"""Fixtures: a greycloud-lsp subprocess talking to the test's emulator over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.lsp.lsp_helpers import Session, language_servers
from tests.tokenizer_files import build_tokenizer_json, train_sentencepiece

CLIENTS = ["visual-studio-code", "neovim"]


@pytest.fixture(params=CLIENTS)
def client_name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest_asyncio.fixture
async def start_session(client_name: str, adc_env: Any, tmp_path: Path) -> AsyncIterator[Session]:
    """Start ``greycloud-lsp`` and initialise it; call with settings/workspace options."""
    async with language_servers(
        tmp_path, client_name=client_name, args=["--log-level", "DEBUG"]
    ) as start:
        yield start


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny SentencePiece model (the gemma3 kind of vocabulary)."""
    return train_sentencepiece(tmp_path_factory.mktemp("spm"))


@pytest.fixture(scope="session")
def tiny_tokenizer_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Hugging Face tokenizer.json (the gemma4 kind of vocabulary)."""
    return build_tokenizer_json(tmp_path_factory.mktemp("hf"))
