"""Long commands answer at once for clients that chose no progress token (eglot, Helix):
the edit follows as ``workspace/applyEdit``, progress and cancel work as before."""

from __future__ import annotations

import asyncio
import time

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from tests.helpers import NO_HANG
from tests.lsp.lsp_helpers import execute, open_document, record_apply_edits
from tests.lsp.test_code_actions import command_of, list_actions, open_python, rng

SLOW_CHUNKS = 0.1  # 40 words in about a dozen chunks: over a second of streaming


async def _until(predicate, timeout=NO_HANG):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_an_edit_generate_answers_at_once_and_edits_later(start_session, adc_env, tmp_path):
    adc_env.state.configure(stream_chunk_delay=SLOW_CHUNKS)
    client = await start_session()
    edits = record_apply_edits(client)
    uri = (tmp_path / "notes.md").as_uri()
    open_document(client, uri, "first line\nsecond line\n")
    selection = {"start": {"line": 1, "character": 0}, "end": {"line": 1, "character": 11}}
    asked = time.monotonic()
    answer = await execute(
        client,
        "greycloud.generate",
        {
            "prompt": "Rewrite [[words=40]]",
            "textDocument": {"uri": uri},
            "range": selection,
            "insert": "replace",
        },
    )
    answered = time.monotonic() - asked
    token = answer["workDoneToken"]
    assert answer == {"started": True, "workDoneToken": token, "command": "greycloud.generate"}
    assert edits == []  # the answer came before the generation ended
    await _until(lambda: edits)
    streamed = time.monotonic() - asked
    assert answered < streamed / 2, (answered, streamed)
    (edit,) = edits
    (text_edit,) = edit.edit.changes[uri]
    chunks = [c for c in client.recorder.of("greycloud/generationChunk") if c["token"] == token]
    assert text_edit.new_text == "".join(c["text"] for c in chunks) and chunks
    assert text_edit.range.start == types.Position(line=1, character=0)
    await _until(lambda: client.progress_reports.get(token))
    await _until(lambda: isinstance(client.progress_reports[token][-1], types.WorkDoneProgressEnd))
    assert client.progress_reports[token][-1].message == "Done"


async def test_cancel_by_progress_after_the_answer_applies_nothing(
    start_session, adc_env, tmp_path
):
    adc_env.state.configure(stream_chunk_delay=0.05)
    client = await start_session()
    edits = record_apply_edits(client)
    uri = (tmp_path / "notes.md").as_uri()
    open_document(client, uri, "text\n")
    answer = await execute(
        client,
        "greycloud.generate",
        {"prompt": "Long [[words=3000]]", "textDocument": {"uri": uri}, "insert": "after"},
    )
    token = answer["workDoneToken"]
    await client.recorder.wait_for("greycloud/generationChunk", lambda c: c["token"] == token)
    client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
    record = adc_env.state.requests_for("streamGenerateContent")[-1]
    await _until(lambda: record.end_time is not None)
    await _until(lambda: isinstance(client.progress_reports[token][-1], types.WorkDoneProgressEnd))
    assert "ancel" in client.progress_reports[token][-1].message
    await asyncio.sleep(0.3)
    assert edits == []


async def test_a_request_that_cannot_run_still_fails_at_once(start_session, adc_env, tmp_path):
    client = await start_session()
    ghost = (tmp_path / "ghost.md").as_uri()
    with pytest.raises(JsonRpcException) as info:
        await execute(
            client,
            "greycloud.generate",
            {"prompt": "x", "textDocument": {"uri": ghost}, "insert": "replace"},
        )
    assert "cannot read" in str(info.value)


async def test_a_failure_after_the_answer_is_one_error_message(start_session, adc_env, tmp_path):
    client = await start_session()
    uri = (tmp_path / "notes.md").as_uri()
    open_document(client, uri, "text\n")
    adc_env.state.add_fault(status=403, action="streamGenerateContent", times=10)
    answer = await execute(
        client,
        "greycloud.generate",
        {"prompt": "x", "textDocument": {"uri": uri}, "insert": "after"},
    )
    assert answer["started"] is True

    def errors():
        return [m for m in client.messages if m.type == types.MessageType.Error]

    await _until(errors)
    (shown,) = errors()
    assert "roles/aiplatform.user" in shown.message and "\n" not in shown.message


async def test_an_edit_action_without_a_token_answers_at_once(start_session, adc_env, tmp_path):
    adc_env.state.configure(stream_chunk_delay=SLOW_CHUNKS)
    client = await start_session(workspace=tmp_path)
    edits = record_apply_edits(client)
    uri = open_python(client, tmp_path)
    actions = await list_actions(client, uri, rng(0, 0, 2, 0))
    (document,) = [a for a in actions if a.data["id"] == "document"]
    command = await command_of(client, document)
    answer = await execute(client, command.command, *command.arguments)
    assert answer["started"] is True and answer["id"] == "document" and edits == []
    await _until(lambda: edits)
    (edit,) = edits
    assert edit.label == "Gemini: Add documentation"
    (text_edit,) = edit.edit.changes[uri]
    assert text_edit.range == rng(0, 0, 2, 0) and text_edit.new_text
