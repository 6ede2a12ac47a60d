"""greycloud.generate: progress, chunks, result, cancel, concurrency, applyEdit."""

from __future__ import annotations

import asyncio
import time

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from tests.helpers import NO_HANG, PROMPTLY
from tests.lsp.lsp_helpers import execute, open_document, record_apply_edits


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


async def _first_chunk(client, timeout=NO_HANG):
    return await client.recorder.wait_for("greycloud/generationChunk", lambda c: True, timeout)


async def test_cancel_by_progress_returns_partial_text(start_session, adc_env):
    adc_env.state.configure(stream_chunk_delay=0.05)
    client = await start_session()
    task = asyncio.create_task(
        execute(client, "greycloud.generate", {"prompt": "Go on [[words=3000]]"})
    )
    chunk = await _first_chunk(client)
    cancelled_at = time.monotonic()
    client.window_work_done_progress_cancel(
        types.WorkDoneProgressCancelParams(token=chunk["token"])
    )
    result = await asyncio.wait_for(task, NO_HANG)
    assert result["cancelled"] is True
    chunks = client.recorder.of("greycloud/generationChunk")
    assert result["text"] == "".join(c["text"] for c in chunks)
    assert 0 < len(result["text"]) < 3000 * 3
    record = adc_env.state.requests_for("streamGenerateContent")[-1]
    await _wait_end(record)
    # Left alone the stream would run ~20 s more (about 400 chunks, 50 ms apart). The 200 ms
    # target is measured in benchmarks/bench_lsp.py; here, only "at once, not at its end".
    assert record.end_time - cancelled_at < PROMPTLY, "upstream stream not stopped"
    end = client.progress_reports[chunk["token"]][-1]
    assert isinstance(end, types.WorkDoneProgressEnd) and "ancel" in (end.message or "")


async def _wait_end(record, timeout=NO_HANG):
    deadline = time.monotonic() + timeout
    while record.end_time is None and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    assert record.end_time is not None


async def test_cancel_request_stops_upstream_and_frees_slot(start_session, adc_env):
    adc_env.state.configure(stream_chunk_delay=0.05)
    client = await start_session(settings={"maxConcurrency": 1})
    pending = set(client.protocol._request_futures)
    fut = asyncio.create_task(
        execute(client, "greycloud.generate", {"prompt": "Long [[words=3000]]"})
    )
    await _first_chunk(client)
    (msg_id,) = set(client.protocol._request_futures) - pending
    cancelled_at = time.monotonic()
    client.protocol.notify("$/cancelRequest", types.CancelParams(id=msg_id))
    with pytest.raises(JsonRpcException):
        await asyncio.wait_for(fut, NO_HANG)
    record = adc_env.state.requests_for("streamGenerateContent")[-1]
    await _wait_end(record)
    assert record.end_time - cancelled_at < PROMPTLY, "upstream stream not stopped"
    # The only concurrency slot must be free again: a kept slot would never come back
    # (a still running stream ends at once without the chunk delay).
    adc_env.state.configure(stream_chunk_delay=0.0)
    result = await asyncio.wait_for(
        execute(client, "greycloud.generate", {"prompt": "short [[words=5]]"}), NO_HANG
    )
    assert result["text"]


async def test_ten_concurrent_generates_share_the_limiter(start_session, adc_env):
    adc_env.state.configure(stream_chunk_delay=0.02)
    client = await start_session(settings={"maxConcurrency": 3, "rpm": 100})
    results = await asyncio.gather(
        *(
            execute(client, "greycloud.generate", {"prompt": f"n{i} [[words=40]]"})
            for i in range(10)
        )
    )
    assert all(r["text"] and not r["cancelled"] for r in results)
    records = adc_env.state.requests_for("streamGenerateContent")
    assert len(records) == 10
    assert all(r.status == 200 for r in records)
    events = sorted(
        [(r.time, 1) for r in records] + [(r.end_time, -1) for r in records],
        key=lambda e: (e[0], e[1]),
    )
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    assert peak <= 3, f"{peak} streams ran at once with maxConcurrency 3"
    chunks = client.recorder.of("greycloud/generationChunk")
    for result in results:
        token = next(c["token"] for c in chunks if result["text"].startswith(c["text"]))
        mine = sorted((c for c in chunks if c["token"] == token), key=lambda c: c["index"])
        assert "".join(c["text"] for c in mine) == result["text"]


async def test_insert_applies_one_edit(start_session, adc_env, tmp_path):
    client = await start_session()
    edits = record_apply_edits(client)

    uri = (tmp_path / "notes.md").as_uri()
    open_document(client, uri, "first line\nsecond line\n")
    selection = {"start": {"line": 1, "character": 0}, "end": {"line": 1, "character": 11}}
    result = await execute(
        client,
        "greycloud.generate",
        {
            "prompt": "Rewrite [[words=30]]",
            "textDocument": {"uri": uri},
            "range": selection,
            "insert": "replace",
            "wait": True,
        },
    )
    assert len(edits) == 1
    (text_edit,) = edits[0].edit.changes[uri]
    assert text_edit.new_text == result["text"]
    assert text_edit.range.start == types.Position(line=1, character=0)
    assert text_edit.range.end == types.Position(line=1, character=11)
    body = adc_env.state.requests_for("streamGenerateContent")[-1].body
    assert "second line" in str(body) and "first line" not in str(body)


async def test_include_document_and_insert_after(start_session, adc_env, tmp_path):
    client = await start_session()
    edits = record_apply_edits(client)

    uri = (tmp_path / "doc.md").as_uri()
    open_document(client, uri, "alpha\nbeta gamma")
    result = await execute(
        client,
        "greycloud.generate",
        {
            "prompt": "Continue [[words=12]]",
            "textDocument": {"uri": uri},
            "includeDocument": True,
            "insert": "after",
            "wait": True,
        },
    )
    body = str(adc_env.state.requests_for("streamGenerateContent")[-1].body)
    assert "alpha" in body and "beta gamma" in body
    (edit,) = edits
    (text_edit,) = edit.edit.changes[uri]
    end = types.Position(line=1, character=10)
    assert text_edit.range == types.Range(start=end, end=end)
    assert text_edit.new_text == result["text"]


async def test_incremental_edits_use_lsp_line_breaks(start_session, adc_env, tmp_path):
    """A form feed or U+2028 is not a line break in LSP positions."""
    client = await start_session()
    uri = (tmp_path / "ff.c").as_uri()
    open_document(client, uri, "one\x0ctwo\u2028three\nfour\n")
    position = types.Position(line=1, character=0)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(start=position, end=position), text="X"
                )
            ],
        )
    )
    await execute(
        client,
        "greycloud.generate",
        {"prompt": "echo [[words=2]]", "textDocument": {"uri": uri}, "includeDocument": True},
    )
    body = adc_env.state.requests_for("streamGenerateContent")[-1].body
    texts = [part.get("text") for part in body["contents"][-1]["parts"]]
    assert "one\x0ctwo\u2028three\nXfour\n" in texts


async def test_client_token_in_arguments_is_used_and_cancels(start_session, adc_env):
    """A client that cannot set ExecuteCommandParams.workDoneToken may put it in the argument."""
    adc_env.state.configure(stream_chunk_delay=0.05)
    client = await start_session()
    client.progress_reports.setdefault("mine-7", [])  # the client created it
    task = asyncio.create_task(
        execute(
            client,
            "greycloud.generate",
            {"prompt": "Go on [[words=3000]]", "workDoneToken": "mine-7"},
        )
    )
    chunk = await _first_chunk(client)
    assert chunk["token"] == "mine-7"
    client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token="mine-7"))
    result = await asyncio.wait_for(task, NO_HANG)
    assert result["cancelled"] is True
    reports = client.progress_reports["mine-7"]
    assert isinstance(reports[0], types.WorkDoneProgressBegin)
    assert isinstance(reports[-1], types.WorkDoneProgressEnd)
    assert all(not str(token).startswith("greycloud-") for token in client.progress_reports)
