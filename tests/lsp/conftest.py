"""Fixtures: a greycloud-lsp subprocess talking to the test's emulator over real HTTP."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.lsp.lsp_helpers import Session, language_servers
from tests.tokenizer_files import build_tokenizer_json, train_sentencepiece

CLIENTS = ["visual-studio-code", "neovim"]
# These also run through the per-user daemon (GREYCLOUD_TEST_SERVER_MODES=standalone,daemon
# runs every start_session test in both modes).
DAEMON_SMOKE = {
    "test_generate_streams_progress_and_chunks",
    "test_cancel_request_stops_upstream_and_frees_slot",
    "test_include_document_and_insert_after",
    "test_incremental_edits_use_lsp_line_breaks",
    "test_cache_workspace_lifecycle",
    "test_open_publishes_estimate_then_exact",
    "test_bad_arguments_are_invalid_params",
    "test_settings_change_applies_at_runtime",
    "test_items_continue_the_prefix",
    "test_the_model_call_is_cancelled_when_the_text_moves_on",
    "test_typing_what_was_suggested_reuses_it_without_a_call",
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "server_mode" not in metafunc.fixturenames:
        return
    modes = os.environ.get("GREYCLOUD_TEST_SERVER_MODES", "").split(",")
    modes = [m for m in modes if m] or ["standalone"]
    if metafunc.function.__name__ in DAEMON_SMOKE and "daemon" not in modes:
        modes.append("daemon")
    metafunc.parametrize("server_mode", modes)


@pytest.fixture(params=CLIENTS)
def client_name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest_asyncio.fixture
async def start_session(
    client_name: str, server_mode: str, adc_env: Any, tmp_path: Path
) -> AsyncIterator[Session]:
    """Start ``greycloud-lsp`` and initialise it; call with settings/workspace options."""
    async with language_servers(
        tmp_path, client_name=client_name, args=["--log-level", "DEBUG"], mode=server_mode
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
