"""The language server reports Google's quota 429s the way the library reads them."""

from __future__ import annotations

import pytest
from pygls.exceptions import JsonRpcException

from tests.lsp.lsp_helpers import execute

STREAM = "streamGenerateContent"
PER_DAY_ID = "GenerateRequestsPerDayPerProjectPerModel"


@pytest.mark.parametrize("in_stream_body", [False, True], ids=["http-429", "429-in-stream"])
async def test_per_day_quota_fails_at_once_with_a_clear_message(
    start_session, adc_env, in_stream_body
):
    client = await start_session()
    where = {"stream_error_after_chunks": 0} if in_stream_body else {}
    adc_env.state.add_fault(
        429, action=STREAM, quota="per_day", quota_value=50, retry_delay=20, times=None, **where
    )
    with pytest.raises(JsonRpcException) as info:
        await execute(client, "greycloud.generate", {"prompt": "hi"})
    error = info.value
    assert error.code == -32803  # RequestFailed
    assert PER_DAY_ID in error.message and "limit 50" in error.message
    assert "resets daily" in error.message
    assert error.data["reason"] == "daily"
    assert error.data["quotaId"] == PER_DAY_ID and error.data["quotaValue"] == "50"
    assert error.data["retryDelay"] == 20
    assert len(adc_env.state.requests_for(STREAM)) == 1  # not retried


async def test_a_wait_beyond_patience_is_not_retried(start_session, adc_env):
    client = await start_session(env={"GREYCLOUD_MAX_RETRY_DELAY": "5"})
    adc_env.state.add_fault(429, action=STREAM, quota="per_minute", retry_delay=60)
    with pytest.raises(JsonRpcException) as info:
        await execute(client, "greycloud.generate", {"prompt": "hi"})
    assert "GREYCLOUD_MAX_RETRY_DELAY" in info.value.message
    assert info.value.data["reason"] == "patience"
    assert len(adc_env.state.requests_for(STREAM)) == 1
