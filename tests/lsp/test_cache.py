"""greycloud.cacheWorkspace / listCaches / deleteCache / extendCache and cache lifecycle."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from greycloud.emulator.cache_routes import cache_store
from tests.helpers import cache_creations
from tests.lsp.lsp_helpers import execute, open_document

PROSE = " ".join(f"word{i} alpha beta gamma delta" for i in range(900))
SECRET = "SECRET_TOKEN=hunter2-do-not-upload"


def make_workspace(root: Path) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "src" / "main.py").write_text(f'"""Main."""\nTEXT = """{PROSE}"""\n')
    (root / "README.md").write_text("# Project\n" + PROSE + "\n")
    (root / ".gitignore").write_text("build/\n*.log\n")
    (root / "build").mkdir()
    (root / "build" / "out.txt").write_text("generated")
    (root / "debug.log").write_text("log line")
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (root / ".env").write_text(SECRET + "\n")
    (root / "deploy-credentials.json").write_text(json.dumps({"private_key": SECRET}))
    return root


@pytest.fixture
def workspace(tmp_path: Path, adc_env) -> Path:
    cache_store(adc_env.state).clear()
    return make_workspace(tmp_path / "ws")


async def test_cache_workspace_lifecycle(start_session, adc_env, workspace):
    client = await start_session(workspace=workspace, settings={"cache": {"ttlSeconds": 600}})
    result = await execute(client, "greycloud.cacheWorkspace", {"displayName": "ws"})
    assert sorted(result["files"]) == [".gitignore", "README.md", "src/main.py"]
    skipped = {s["path"]: s["reason"] for s in result["skipped"]}
    assert skipped[".env"] == "secret"
    assert skipped["deploy-credentials.json"] == "secret"
    assert skipped["logo.png"] == "binary"
    assert skipped["build/"] == "gitignored" and skipped["debug.log"] == "gitignored"
    assert result["displayName"] == "ws" and result["tokens"] > 1024 and result["expireTime"]
    create = cache_creations(adc_env)
    assert len(create) == 1 and "hunter2" not in json.dumps(create[0].body)

    listed = await execute(client, "greycloud.listCaches", {})
    (entry,) = [c for c in listed if c["name"] == result["name"]]
    assert entry["ownedByServer"] is True and entry["stale"] is False
    # the creation is announced with what a status line needs
    created = client.recorder.of("greycloud/cacheStatus")[0]
    assert created["name"] == result["name"] and created["stale"] is False
    assert created["expireTime"] == result["expireTime"] and created["deleted"] is False
    assert created["folder"] == str(workspace.resolve())

    # generate against the newest workspace cache
    answer = await execute(
        client,
        "greycloud.generate",
        {"prompt": "Summarise [[words=10]]", "cachedContent": "workspace"},
    )
    body = adc_env.state.requests_for("streamGenerateContent")[-1].body
    assert body["cachedContent"] == result["name"]
    assert answer["usage"]["cachedTokens"] > 0

    # saving a changed cached file marks the cache stale
    uri = (workspace / "README.md").as_uri()
    open_document(client, uri, (workspace / "README.md").read_text())
    (workspace / "README.md").write_text("# Changed\n")
    client.text_document_did_save(
        types.DidSaveTextDocumentParams(
            text_document=types.TextDocumentIdentifier(uri=uri), text="# Changed\n"
        )
    )
    status = await client.recorder.wait_for("greycloud/cacheStatus", lambda n: n["stale"])
    assert status["name"] == result["name"] and status["stale"] is True
    assert "README.md" in status["reason"]
    listed = await execute(client, "greycloud.listCaches", {})
    assert [c["stale"] for c in listed if c["name"] == result["name"]] == [True]

    extended = await execute(
        client, "greycloud.extendCache", {"name": result["name"], "ttlSeconds": 7200}
    )
    assert extended["name"] == result["name"] and extended["expireTime"] > result["expireTime"]

    assert await execute(client, "greycloud.deleteCache", {"name": result["name"]}) == {
        "deleted": True
    }
    assert cache_store(adc_env.state).get(result["name"]) is None
    with pytest.raises(JsonRpcException, match=r"greycloud\.deleteCache"):
        await execute(client, "greycloud.deleteCache", {"name": result["name"]})


async def test_owned_caches_deleted_on_shutdown(start_session, adc_env, workspace):
    client = await start_session(workspace=workspace)
    result = await execute(client, "greycloud.cacheWorkspace", {})
    assert cache_store(adc_env.state).get(result["name"]) is not None
    await client.shutdown_session()
    assert cache_store(adc_env.state).get(result["name"]) is None


async def test_keep_alive_extends_before_expiry(start_session, adc_env, workspace):
    client = await start_session(
        workspace=workspace, settings={"cache": {"keepAlive": True, "ttlSeconds": 4}}
    )
    result = await execute(client, "greycloud.cacheWorkspace", {})
    first = cache_store(adc_env.state).get(result["name"]).expire_time
    import asyncio

    await asyncio.sleep(4.5)
    entry = cache_store(adc_env.state).get(result["name"])
    assert entry is not None, "cache expired although keepAlive is on"
    assert entry.expire_time > first


async def test_folder_outside_workspace_is_invalid(start_session, adc_env, workspace, tmp_path):
    client = await start_session(workspace=workspace)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    with pytest.raises(JsonRpcException, match="folder") as info:
        await execute(client, "greycloud.cacheWorkspace", {"folder": outside.as_uri()})
    assert "-32602" in str(info.value) or getattr(info.value, "code", None) == -32602
    # a symlink inside the workspace pointing outside is never read
    (outside / "leak.txt").write_text(SECRET)
    (workspace / "leak.txt").symlink_to(outside / "leak.txt")
    result = await execute(client, "greycloud.cacheWorkspace", {})
    assert {"path": "leak.txt", "reason": "outside workspace"} in result["skipped"]


async def test_too_small_content_states_both_numbers(start_session, adc_env, tmp_path):
    root = tmp_path / "small"
    root.mkdir()
    (root / "one.txt").write_text("tiny file")
    client = await start_session(workspace=root)
    with pytest.raises(JsonRpcException) as info:
        await execute(client, "greycloud.cacheWorkspace", {})
    message = str(info.value)
    assert "1024" in message and any(ch.isdigit() for ch in message.split("1024")[0])
    assert "cache.minTokens" in message


async def test_min_tokens_setting_overrides_the_pre_check(start_session, adc_env, workspace):
    client = await start_session(workspace=workspace, settings={"cache": {"minTokens": 100_000}})
    with pytest.raises(JsonRpcException) as info:
        await execute(client, "greycloud.cacheWorkspace", {})
    assert "100000 tokens or more" in str(info.value)
    assert adc_env.state.requests_for("cachedContents.create") == []


async def test_min_tokens_zero_lets_the_api_decide(start_session, adc_env, tmp_path):
    root = tmp_path / "small"
    root.mkdir()
    (root / "one.txt").write_text("tiny file")
    client = await start_session(workspace=root, settings={"cache": {"minTokens": 0}})
    with pytest.raises(JsonRpcException) as info:
        await execute(client, "greycloud.cacheWorkspace", {})
    assert "minimum token count" in str(info.value)  # the API's (emulator's) own refusal
    assert adc_env.state.requests_for("countTokens") == []
    assert len(adc_env.state.requests_for("cachedContents.create")) == 1


async def test_cache_commands_use_the_library_names_and_retries(start_session, adc_env, workspace):
    client = await start_session(workspace=workspace)
    result = await execute(client, "greycloud.cacheWorkspace", {})
    cache_id = result["name"].rsplit("/", 1)[-1]
    adc_env.state.add_fault(503, action="cachedContents.update")
    extended = await execute(
        client, "greycloud.extendCache", {"name": f"cachedContents/{cache_id}", "ttlSeconds": 60}
    )
    assert extended["name"] == result["name"]
    assert [r.status for r in adc_env.state.requests_for("cachedContents.update")] == [503, 200]
    with pytest.raises(JsonRpcException, match=r"cachedContents/ID") as info:
        await execute(client, "greycloud.deleteCache", {"name": "models/gemini"})
    assert getattr(info.value, "code", None) == -32602 or "-32602" in str(info.value)
    with pytest.raises(JsonRpcException, match=r"cachedContent: 'workspace' or a cache name"):
        await execute(client, "greycloud.generate", {"prompt": "Hi", "cachedContent": "../x"})
    answer = await execute(
        client,
        "greycloud.generate",
        {"prompt": "Summarise [[words=5]]", "cachedContent": f"cachedContents/{cache_id}"},
    )
    assert answer["usage"]["cachedTokens"] > 0
    assert await execute(client, "greycloud.deleteCache", {"name": cache_id}) == {"deleted": True}
    listed = await execute(client, "greycloud.listCaches", {})
    assert [c for c in listed if c["name"] == result["name"]] == []
