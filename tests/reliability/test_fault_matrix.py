"""The fault matrix (`tests.reliability.fault_matrix.ROWS`) on every front end.

One parametrised table: each row runs on the sync client and the async client
(unary and streaming where the row allows) and on the language server's
``greycloud.generate``. A row passes when the attempts the emulator saw, the
outcome, the error text and the delivered text all match the row.
"""

from __future__ import annotations

import pytest

from tests.reliability.fault_matrix import ROWS, STREAM, Row, run_async, run_lsp, run_sync

LIBRARY_CASES = [
    pytest.param(row, mode, id=f"{mode[:6]}-{row.name}") for row in ROWS for mode in row.modes
]
LSP_CASES = [pytest.param(row, id=row.name) for row in ROWS if row.lsp]


@pytest.mark.parametrize(("row", "mode"), LIBRARY_CASES)
def test_sync_client_fault_matrix(adc_env, row: Row, mode: str) -> None:
    outcome = run_sync(adc_env, row, mode)
    assert outcome.problems() == [], outcome


@pytest.mark.parametrize(("row", "mode"), LIBRARY_CASES)
async def test_async_client_fault_matrix(adc_env, row: Row, mode: str) -> None:
    outcome = await run_async(adc_env, row, mode)
    assert outcome.problems() == [], outcome


@pytest.mark.parametrize("row", LSP_CASES)
async def test_language_server_fault_matrix(adc_env, lsp, row: Row) -> None:
    env = {"GREYCLOUD_REQUEST_TIMEOUT": str(row.request_timeout)} if row.request_timeout else {}
    client = await lsp(env=env)
    outcome = await run_lsp(adc_env, row, client, client.recorder)
    assert outcome.mode == STREAM
    assert outcome.problems() == [], outcome
