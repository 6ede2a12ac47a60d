"""greycloud.generate: progress, chunks, result, cancel, concurrency, applyEdit."""

from __future__ import annotations

import pytest
from lsp_helpers import execute
from lsprotocol import types

pytestmark = pytest.mark.asyncio


async def test_generate_streams_progress_and_chunks(start_session, adc_env):
    client = await start_session()
    result = await execute(client, "greycloud.generate", {"prompt": "Tell me a story [[words=60]]"})
    assert result["cancelled"] is False
    assert result["text"]
    assert set(result["usage"]) == {"promptTokens", "outputTokens", "cachedTokens", "totalTokens"}
    assert result["usage"]["outputTokens"] > 0
    chunks = client.recorder.of("greycloud/generationChunk")
    assert chunks, "no greycloud/generationChunk notifications"
    assert [c["index"] for c in chunks] == list(range(len(chunks)))
    assert "".join(c["text"] for c in chunks) == result["text"]
    token = chunks[0]["token"]
    reports = client.progress_reports[token]
    assert isinstance(reports[0], types.WorkDoneProgressBegin)
    assert reports[0].title == "Gemini" and reports[0].cancellable is True
    assert isinstance(reports[-1], types.WorkDoneProgressEnd)
    assert sum(isinstance(r, types.WorkDoneProgressReport) for r in reports) == len(chunks)
    assert adc_env.state.requests_for("streamGenerateContent")
