"""Bad arguments, settings problems, process lifetime, --emulator, logging."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, client_capabilities

from tests.helpers import NO_HANG
from tests.lsp.lsp_helpers import execute

BAD_ARGUMENTS = [
    ("greycloud.generate", {}, "prompt"),
    ("greycloud.generate", {"prompt": 42}, "prompt"),
    ("greycloud.generate", {"prompt": "x", "temperature": "hot"}, "temperature"),
    ("greycloud.generate", {"prompt": "x", "temperature": 7}, "temperature"),
    ("greycloud.generate", {"prompt": "x", "maxOutputTokens": 0}, "maxOutputTokens"),
    (
        "greycloud.generate",
        {"prompt": "x", "insert": "sideways", "textDocument": {"uri": "file:///x"}},
        "insert",
    ),
    (
        "greycloud.generate",
        {"prompt": "x", "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0}}},
        "range.end.character",
    ),
    ("greycloud.generate", {"prompt": "x", "includeDocument": True}, "textDocument"),
    ("greycloud.generate", {"prompt": "x", "cachedContent": "workspace"}, "cachedContent"),
    ("greycloud.generate", "just a string", "argument"),
    ("greycloud.countTokens", {}, "textDocument"),
    ("greycloud.countTokens", {"text": 5}, "text"),
    ("greycloud.countTokens", {"textDocument": {"uri": "file:///not/open.md"}}, "textDocument.uri"),
    ("greycloud.cacheWorkspace", {"include": "*.py"}, "include"),
    ("greycloud.cacheWorkspace", {"ttlSeconds": -5}, "ttlSeconds"),
    ("greycloud.cacheWorkspace", {"folder": "file:///etc"}, "folder"),
    ("greycloud.listCaches", [1, 2], "argument"),
    ("greycloud.deleteCache", {}, "name"),
    ("greycloud.deleteCache", {"name": ""}, "name"),
    ("greycloud.deleteCache", {"name": "../../x"}, "name"),
    ("greycloud.extendCache", {"name": "x?alt=json", "ttlSeconds": 60}, "name"),
    ("greycloud.extendCache", {"name": "n"}, "ttlSeconds"),
    ("greycloud.extendCache", {"name": "n", "ttlSeconds": "60"}, "ttlSeconds"),
]


async def test_bad_arguments_are_invalid_params(start_session, adc_env):
    client = await start_session()
    for command, argument, field in BAD_ARGUMENTS:
        with pytest.raises(JsonRpcException) as info:
            await execute(client, command, argument)
        error = info.value
        code = getattr(error, "code", None)
        assert code == -32602, (command, argument, error)
        assert field in str(error), (command, argument, str(error))
    # a change for a document that was never opened, and an unknown notification
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(
                uri="file:///nowhere/ghost.md", version=3
            ),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text="boo")],
        )
    )
    client.protocol.notify("greycloud/noSuchThing", {"x": 1})
    # ... and the server is still alive and well
    result = await execute(client, "greycloud.generate", {"prompt": "still there? [[words=3]]"})
    assert result["text"]
    with pytest.raises(JsonRpcException):
        await client.protocol.send_request_async("greycloud/tokenCount", {"textDocument": {}})


async def test_backend_errors_are_actionable(start_session, adc_env):
    client = await start_session()
    adc_env.state.add_fault(status=403, action="streamGenerateContent", times=10)
    with pytest.raises(JsonRpcException) as info:
        await execute(client, "greycloud.generate", {"prompt": "hi"})
    assert "roles/" in str(info.value) or "permission" in str(info.value).lower()
    adc_env.state.clear_faults()
    adc_env.state.add_fault(status=401, action="streamGenerateContent", times=10)
    with pytest.raises(JsonRpcException) as info:
        await execute(client, "greycloud.generate", {"prompt": "hi"})
    assert "gcloud auth application-default login" in str(info.value)


async def test_invalid_setting_reported_once_and_previous_kept(start_session, adc_env):
    client = await start_session(
        settings={
            "rpm": "lots",
            "tokenCount": {"debounceMs": -1},
            "temperature": 0.5,
            "endpoint": "not a url",
        },
        init_options={"greycloud": {"maxConcurrency": 2}},
    )
    # a command waits for the settings, so once it answers every warning is out
    await execute(client, "greycloud.countTokens", {"text": "x"})
    warnings = [m for m in client.messages if m.type == types.MessageType.Warning]
    assert any("greycloud.rpm" in m.message for m in warnings)
    assert any("tokenCount.debounceMs" in m.message for m in warnings)
    assert any("greycloud.endpoint" in m.message for m in warnings)
    # the same bad values again: no new warnings
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings={}))
    await asyncio.sleep(0.5)
    again = [m for m in client.messages if m.type == types.MessageType.Warning]
    assert len(again) == len(warnings)
    result = await execute(client, "greycloud.generate", {"prompt": "ok [[words=3]]"})
    assert result["text"]
    body = adc_env.state.requests_for("streamGenerateContent")[-1].body
    assert body["generationConfig"]["temperature"] == 0.5


def _server_env(adc_env) -> dict[str, str]:
    return dict(os.environ)


async def test_stdin_closed_process_exits_quickly(adc_env):
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "greycloud_lsp",
        "--stdio",  # what vscode-languageclient appends
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_server_env(adc_env),
    )
    body = (
        b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":'
        b'{"processId":null,"rootUri":null,"capabilities":{}}}'
    )
    proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    await proc.stdin.drain()
    await asyncio.wait_for(proc.stdout.readuntil(b'"result"'), NO_HANG)
    proc.stdin.close()
    await asyncio.wait_for(proc.wait(), NO_HANG)  # a server that missed EOF runs forever


async def test_emulator_mode_needs_no_environment(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GOOGLE", "GREYCLOUD", "PROJECT", "LOCATION"))
    }
    config = ClientServerConfig(
        server_command=[sys.executable, "-m", "greycloud_lsp", "--emulator"], server_env=env
    )
    client = await config.start()
    try:
        await client.initialize_session(
            types.InitializeParams(
                capabilities=client_capabilities("neovim"),
                root_uri=tmp_path.as_uri(),
                # connection settings from the editor must not lead away from the emulator
                initialization_options={"endpoint": "http://127.0.0.1:9/", "projectId": "x"},
            )
        )
        result = await execute(client, "greycloud.generate", {"prompt": "hello [[words=8]]"})
        assert result["text"] and result["cancelled"] is False
        count = await execute(client, "greycloud.countTokens", {"text": "hello world"})
        assert count["exact"] is True
        await client.shutdown_session()
    finally:
        await client.stop()


async def test_progress_is_skipped_without_client_support(adc_env, tmp_path):
    config = ClientServerConfig(
        server_command=[sys.executable, "-m", "greycloud_lsp"], server_env=dict(os.environ)
    )
    client = await config.start()
    client.chunks = []
    client.feature("greycloud/generationChunk")(lambda ls, p: client.chunks.append(p))
    try:
        await client.initialize_session(
            types.InitializeParams(
                capabilities=types.ClientCapabilities(), root_uri=tmp_path.as_uri()
            )
        )
        result = await execute(client, "greycloud.generate", {"prompt": "hi [[words=20]]"})
        assert result["text"] and client.chunks
        assert client.progress_reports == {}
        await client.shutdown_session()
    finally:
        await client.stop()


def test_version_flag():
    out = subprocess.run(
        [sys.executable, "-m", "greycloud_lsp", "--version"],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    assert out.stdout.startswith("greycloud-lsp ")


def test_log_redaction(tmp_path):
    from greycloud.redaction import redact

    text = (
        "key=AIzaSyA1234567890abcdefghijklmnopqrstuv token ya29.a0AfH6SMBx-secret "
        "Authorization: Bearer abc.def.ghi api_key: 'sk-123'"
    )
    cleaned = redact(text)
    for secret in ("AIzaSyA1234567890", "ya29.a0AfH6SMBx", "abc.def.ghi", "sk-123"):
        assert secret not in cleaned


@pytest.mark.parametrize("mode", [[], ["--standalone"]], ids=["daemon", "standalone"])
async def test_log_file_is_redacted_and_private(adc_env, tmp_path, mode):
    log_file = tmp_path / "lsp.log"
    config = ClientServerConfig(
        server_command=[
            sys.executable,
            "-m",
            "greycloud_lsp",
            *mode,
            "--log-file",
            str(log_file),
            "--log-level",
            "DEBUG",
        ],
        server_env=dict(os.environ),
    )
    client = await config.start()
    try:
        await client.initialize_session(
            types.InitializeParams(
                capabilities=client_capabilities("neovim"), root_uri=tmp_path.as_uri()
            )
        )
        await execute(client, "greycloud.generate", {"prompt": "hi [[words=3]]"})
        await client.shutdown_session()
    finally:
        await client.stop()
    text = log_file.read_text()
    assert "greycloud" in text
    assert "ya29." not in text.replace("ya29.***", "")
    assert "Bearer ey" not in text
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600  # logs quote prompts and paths


async def test_settings_change_applies_at_runtime(start_session, adc_env):
    client = await start_session(settings={"tokenCount": {"mode": "api"}})
    first = await execute(client, "greycloud.countTokens", {"text": "hello there"})
    assert first["source"] == "api"
    client.set_configuration({"tokenCount": {"mode": "estimate"}}, section="greycloud")
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings={}))
    for _ in range(50):
        result = await execute(client, "greycloud.countTokens", {"text": "hello there"})
        if result["source"] == "estimate":
            break
        await asyncio.sleep(0.05)
    assert result == {"tokens": 3, "exact": False, "source": "estimate"}


async def test_exits_when_the_editor_process_dies(adc_env, tmp_path):
    editor = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import time; time.sleep(1)"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "greycloud_lsp",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=_server_env(adc_env),
    )
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {"processId": editor.pid, "rootUri": None, "capabilities": {}},
        }
    ).encode()
    proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    await proc.stdin.drain()
    await asyncio.wait_for(proc.stdout.readuntil(b'"result"'), NO_HANG)
    await editor.wait()
    # the parent watchdog polls every second; a server without it would run forever
    await asyncio.wait_for(proc.wait(), NO_HANG)
