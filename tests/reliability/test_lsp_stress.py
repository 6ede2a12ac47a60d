"""greycloud-lsp under abuse: huge and binary files, thousands of documents, floods,
cancel storms and clients that vanish. The server must stay up, keep its memory
bounded and answer every request.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time

import psutil
import pytest
from lsprotocol import types

from tests.helpers import NO_HANG
from tests.lsp.lsp_helpers import open_document
from tests.reliability.lsp_abuse import (
    answer,
    change,
    command,
    did_change,
    rss_mb,
    server_pid,
    server_text,
)

FAST = {"rpm": 100_000, "maxConcurrency": 20}
# The heaviest tests here take ~10 s on an idle machine and minutes on a busy one;
# pytest-timeout's default (120 s) would then kill a run that is slow, not stuck.
HEAVY = pytest.mark.timeout(600)


def _close(client, uri: str) -> None:
    client.text_document_did_close(
        types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )


async def _responsive(client, within: float = NO_HANG) -> None:
    """A trivial local request is answered; fails if that takes longer than ``within``.

    The bound tells a server that still answers from one that is stuck or
    starved; it is generous because on a machine whose cores are busy the
    server may first have to work through thousands of queued notifications.
    """
    ping = types.ExecuteCommandParams(command="greycloud.countTokens", arguments=[{"text": "x"}])
    result = await asyncio.wait_for(client.workspace_execute_command_async(ping), within)
    assert result["tokens"] > 0


@HEAVY
async def test_a_50_mb_document(adc_env, lsp) -> None:
    client = await lsp(settings={**FAST, "tokenCount": {"debounceMs": 50}})
    pid = server_pid(client)
    await _responsive(client)
    before = rss_mb(pid)
    line = "The quick brown fox jumps over the lazy dog 0123456789.\n"
    text = line * (50 * 2**20 // len(line))
    uri = "untitled:huge.md"
    open_document(client, uri, text)
    counted = await command(client, "greycloud.countTokens", {"textDocument": {"uri": uri}})
    assert counted["tokens"] > 1_000_000
    # a selection from the end of it goes upstream exactly
    last = text.count("\n")
    result = await command(
        client,
        "greycloud.generate",
        {
            "prompt": "summarise [[words=5]]",
            "textDocument": {"uri": uri},
            "range": {
                "start": {"line": last - 1, "character": 0},
                "end": {"line": last, "character": 0},
            },
        },
    )
    assert result["text"]
    parts = adc_env.state.requests_for("streamGenerateContent")[-1].body["contents"][0]["parts"]
    assert parts[1]["text"] == line
    # the whole document reached the server intact: an edit at its very end lands there
    text, event = change(text, len(text), len(text), "THE END")
    did_change(client, uri, 2, [event])
    tail = await command(
        client,
        "greycloud.generate",
        {
            "prompt": "tail [[words=2]]",
            "textDocument": {"uri": uri},
            "range": {
                "start": {"line": last, "character": 0},
                "end": {"line": last, "character": 7},
            },
        },
    )
    assert tail["text"]
    parts = adc_env.state.requests_for("streamGenerateContent")[-1].body["contents"][0]["parts"]
    assert parts[1]["text"] == "THE END"
    peak = rss_mb(pid)
    _close(client, uri)
    del text
    await asyncio.sleep(1.0)
    await _responsive(client)
    after = rss_mb(pid)
    print(f"RSS MB: before {before:.0f}, with 50 MB open {peak:.0f}, after close {after:.0f}")
    assert peak - before < 1024, "a 50 MB document should not cost more than 1 GB"
    assert after - before < 600, "memory was not given back after closing the document"


async def test_binary_and_non_utf8_files_in_the_workspace(adc_env, lsp, tmp_path) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "image.png").write_bytes(
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 40
    )
    (workspace / "latin1.txt").write_bytes("café crème brûlée\n".encode("latin-1") * 50)
    (workspace / "utf16.txt").write_bytes("hello wide world\n".encode("utf-16") * 50)
    (workspace / "bad_utf8.md").write_bytes(b"ok \xff\xfe\xfa broken \xc3\x28 bytes\n" * 50)
    (workspace / "readme.md").write_text("Readable words for the cache. " * 400)
    client = await lsp(settings=FAST, workspace=workspace)
    result = await command(client, "greycloud.cacheWorkspace", {})
    assert result["files"] == ["readme.md"]
    skipped = {s["path"]: s["reason"] for s in result["skipped"]}
    for name in ("image.png", "latin1.txt", "utf16.txt", "bad_utf8.md"):
        assert skipped.get(name) == "binary", (name, skipped)
    # documents referenced by URI but not open are read from disk: still an answer
    for name in ("image.png", "latin1.txt", "bad_utf8.md"):
        uri = (workspace / name).as_uri()
        kind, value = await answer(
            client,
            "greycloud.generate",
            {"prompt": "x [[words=2]]", "textDocument": {"uri": uri}, "includeDocument": True},
        )
        assert kind == "result" or value[0] in (-32602, -32803), (name, value)
        kind, value = await answer(client, "greycloud.countTokens", {"textDocument": {"uri": uri}})
        assert kind == "error" and value[0] == -32602 and "not open" in value[1]
    # an open document full of control characters and odd code points
    weird = "".join(chr(c) for c in range(1, 0x3000) if not 0xD800 <= c < 0xE000)
    open_document(client, "untitled:weird.md", weird)
    assert await server_text(client, adc_env, "untitled:weird.md") == weird
    await _responsive(client)


@HEAVY
async def test_thousands_of_open_documents(adc_env, lsp) -> None:
    client = await lsp(settings={**FAST, "tokenCount": {"debounceMs": 100}})
    pid = server_pid(client)
    await _responsive(client)
    before = rss_mb(pid)
    uris = [f"untitled:many/{i}.md" for i in range(3000)]
    for i, uri in enumerate(uris):
        open_document(client, uri, f"Document {i}. " + "Some shared words here. " * 20)
    # the server still answers (after the 3000 queued opens), and every document got
    # its estimate; how fast is not a test's business (it failed a 10 s bound on a busy
    # machine), only that nothing is stuck or starved
    await _responsive(client, within=2 * NO_HANG)
    await client.recorder.wait_for(
        "greycloud/tokenCount", lambda n: n["uri"] == uris[-1], timeout=NO_HANG
    )
    result = await command(client, "greycloud.generate", {"prompt": "still fine? [[words=3]]"})
    assert result["text"]
    peak = rss_mb(pid)
    for uri in uris:
        _close(client, uri)
    await _responsive(client)
    after = rss_mb(pid)
    print(f"RSS MB: before {before:.0f}, 3000 open {peak:.0f}, after close {after:.0f}")
    assert peak - before < 300


async def test_many_open_documents_do_not_starve_user_requests(adc_env, lsp) -> None:
    """Background exact counts (rpm 60 by default) must not starve a user's request."""
    client = await lsp(settings={"tokenCount": {"debounceMs": 50, "mode": "api"}})
    for i in range(120):
        open_document(client, f"untitled:default/{i}.md", f"Text number {i} " * 10)
    await asyncio.sleep(0.5)  # the debounce timers fire; 120 exact counts want the limiter
    await asyncio.wait_for(
        command(client, "greycloud.generate", {"prompt": "a user asks [[words=3]]"}), 10
    )


@HEAVY
async def test_a_flood_of_did_change(adc_env, lsp) -> None:
    client = await lsp(settings={**FAST, "tokenCount": {"debounceMs": 20}})
    pid = server_pid(client)
    uri = "untitled:flood.md"
    text = ""
    open_document(client, uri, text)
    before = rss_mb(pid)
    for version in range(2, 5002):
        if version % 97 == 0:
            text, event = change(text, 0, min(len(text), 5), "")  # a deletion now and then
        else:
            char = "\n" if version % 40 == 0 else "abcdéf😀"[version % 7]
            text, event = change(text, len(text), len(text), char)
        did_change(client, uri, version, [event])
    await _responsive(client, within=2 * NO_HANG)  # after 5000 queued changes
    assert await server_text(client, adc_env, uri) == text
    last = await client.recorder.wait_for(
        "greycloud/tokenCount", lambda n: n["uri"] == uri and n["version"] == 5001, timeout=NO_HANG
    )
    assert last["tokens"] > 0
    assert rss_mb(pid) - before < 200


async def test_cancel_storm(adc_env, lsp) -> None:
    adc_env.state.configure(stream_chunk_delay=0.02)
    client = await lsp(settings={**FAST, "maxConcurrency": 2})
    pending = set(client.protocol._request_futures)
    tasks = [
        asyncio.create_task(
            answer(client, "greycloud.generate", {"prompt": f"long {i} [[words=2000]]"})
        )
        for i in range(20)
    ]
    await client.recorder.wait_for("greycloud/generationChunk", lambda c: True, timeout=NO_HANG)
    ids = set(client.protocol._request_futures) - pending
    assert len(ids) == 20
    for msg_id in ids:
        client.protocol.notify("$/cancelRequest", types.CancelParams(id=msg_id))
    for bogus in range(10_000, 10_300):  # cancels for requests that never existed
        client.protocol.notify("$/cancelRequest", types.CancelParams(id=bogus))
    for token in {c["token"] for c in client.recorder.of("greycloud/generationChunk")}:
        client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
    answers = await asyncio.wait_for(asyncio.gather(*tasks), NO_HANG)
    for kind, value in answers:  # every request answered: a (cancelled) result or an error
        assert kind == "result" or value[0] in (-32800, -32803), value
    adc_env.state.configure(stream_chunk_delay=0.0)  # any stream still running ends at once
    # a slot a cancelled generation kept would never come back: this would hang
    result = await command(client, "greycloud.generate", {"prompt": "after the storm [[words=5]]"})
    assert result["text"] and result["cancelled"] is False
    streams = adc_env.state.requests_for("streamGenerateContent")
    await asyncio.sleep(0.5)
    assert all(r.end_time is not None for r in streams), "an upstream stream was left open"


def _frame(message: dict) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def _start_raw_server(process_id: int | None) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "greycloud_lsp"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ),
    )
    assert proc.stdin is not None
    proc.stdin.write(
        _frame(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {"processId": process_id, "rootUri": None, "capabilities": {}},
            }
        )
        + _frame({"jsonrpc": "2.0", "method": "initialized", "params": {}})
        + _frame(
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "workspace/executeCommand",
                "params": {
                    "command": "greycloud.generate",
                    "arguments": [{"prompt": "endless [[words=5000]]"}],
                },
            }
        )
    )
    proc.stdin.flush()
    return proc


def _wait_for_output(proc: subprocess.Popen, needle: bytes, timeout: float) -> None:
    found = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        seen = b""
        while True:  # keep draining: a full pipe would block the server's writes
            try:
                data = proc.stdout.read1(65536)  # type: ignore[attr-defined]
            except (OSError, ValueError):  # the test closed its end
                return
            if not data:
                return
            if not found.is_set():
                seen = (seen + data)[-100_000:]
                if needle in seen:
                    found.set()

    threading.Thread(target=read, daemon=True).start()
    assert found.wait(timeout), f"no {needle!r} from the server"


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(5)


def test_client_vanishing_mid_stream_ends_the_server(adc_env) -> None:
    adc_env.state.configure(stream_chunk_delay=0.02)
    proc = _start_raw_server(process_id=None)
    try:
        _wait_for_output(proc, b"greycloud/generationChunk", timeout=20)
        children = psutil.Process(proc.pid).children(recursive=True)
        proc.stdin.close()  # the editor is gone: both pipes close under the server
        proc.stdout.close()
        code = proc.wait(timeout=NO_HANG)  # a server that missed it would run forever
        assert code is not None
        assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
        record = adc_env.state.requests_for("streamGenerateContent")[-1]
        deadline = time.monotonic() + NO_HANG
        while record.end_time is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert record.end_time is not None, "the upstream stream outlived the server"
    finally:
        _stop(proc)


def test_editor_killed_mid_stream_ends_the_server(adc_env) -> None:
    adc_env.state.configure(stream_chunk_delay=0.02)
    editor = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    proc = _start_raw_server(process_id=editor.pid)
    try:
        _wait_for_output(proc, b"greycloud/generationChunk", timeout=20)
        editor.kill()  # the editor dies without closing anything
        editor.wait(NO_HANG)
        proc.wait(timeout=NO_HANG)  # the parent watchdog polls every second; else forever
    finally:
        _stop(proc)
        _stop(editor)


@pytest.mark.parametrize("junk", [b"Content-Length: 5\r\n\r\n{oops", b"\x00\xff" * 5000])
def test_garbage_on_stdin_does_not_hang_the_server(adc_env, junk: bytes) -> None:
    proc = _start_raw_server(process_id=None)
    try:
        proc.stdin.write(junk)
        proc.stdin.flush()
        proc.stdin.close()
        proc.wait(timeout=10)
    finally:
        _stop(proc)
