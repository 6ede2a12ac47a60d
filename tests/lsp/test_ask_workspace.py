"""Asking the cached workspace: state, plan (dry run), creation, reuse, cost, staleness, refresh."""

from __future__ import annotations

import pytest
from lsprotocol import types

from greycloud.emulator.cache_routes import cache_store
from tests.helpers import NO_HANG, cache_creations
from tests.lsp.lsp_helpers import execute, open_document
from tests.lsp.test_cache import make_workspace


@pytest.fixture
def workspace(tmp_path, adc_env):
    cache_store(adc_env.state).clear()
    return make_workspace(tmp_path / "ws")


async def ask(client, question: str, token: str) -> dict:
    """greycloud.generate with a client-chosen workDoneToken on the ExecuteCommandParams."""
    client.progress_reports.setdefault(token, [])  # the client created it
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="greycloud.generate",
            arguments=[{"prompt": question, "cachedContent": "workspace"}],
            work_done_token=token,
        )
    )


async def test_ask_creates_then_reuses_the_workspace_cache(start_session, adc_env, workspace):
    client = await start_session(workspace=workspace, settings={"model": "gemini-2.5-flash"})
    folder = str(workspace.resolve())

    state = await execute(client, "greycloud.workspaceCacheState", {})
    assert state == {"state": "none", "folder": folder, "cache": None}

    plan = await execute(client, "greycloud.cacheWorkspace", {"dryRun": True})
    assert plan["dryRun"] is True and plan["folder"] == folder
    assert sorted(plan["files"]) == [".gitignore", "README.md", "src/main.py"]
    assert plan["tokens"] > 1024 and plan["cacheable"] is True
    assert plan["storageCostPerHour"] == pytest.approx(plan["tokens"] / 1e6 * 1.00)
    assert plan["storageCostForTtl"] == pytest.approx(plan["storageCostPerHour"])  # ttl 3600 s
    assert cache_creations(adc_env) == [], "a dry run must not create a cache"

    created = await execute(client, "greycloud.cacheWorkspace", {})
    state = await execute(client, "greycloud.workspaceCacheState", {"folder": workspace.as_uri()})
    assert state["state"] == "fresh" and state["cache"]["name"] == created["name"]
    assert 3500 < state["cache"]["expiresInSeconds"] <= 3600

    first = await ask(client, "What does main.py hold? [[words=12]]", "ask-1")
    second = await ask(client, "And the README? [[words=12]]", "ask-2")
    assert len(cache_creations(adc_env)) == 1
    bodies = [r.body for r in adc_env.state.requests_for("streamGenerateContent")]
    assert [b["cachedContent"] for b in bodies[-2:]] == [created["name"]] * 2
    for answer, token in ((first, "ask-1"), (second, "ask-2")):
        assert answer["cachedContent"] == created["name"] and answer["cacheStale"] is False
        cost = answer["cost"]
        assert cost["cachedTokens"] == answer["usage"]["cachedTokens"] > 1024
        assert cost["inputCostWithoutCache"] > cost["inputCostWithCache"] > 0
        assert cost["saving"] == pytest.approx(
            cost["inputCostWithoutCache"] - cost["inputCostWithCache"]
        )
        assert cost["currency"] == "USD"
        # progress and chunks use the token the client chose
        reports = client.progress_reports[token]
        assert isinstance(reports[0], types.WorkDoneProgressBegin)
        assert isinstance(reports[-1], types.WorkDoneProgressEnd)
        chunks = [c for c in client.recorder.of("greycloud/generationChunk") if c["token"] == token]
        assert "".join(c["text"] for c in chunks) == answer["text"]


async def test_stale_cache_refresh_replaces_it(start_session, adc_env, workspace):
    client = await start_session(workspace=workspace, settings={"model": "gemini-2.5-flash"})
    old = await execute(client, "greycloud.cacheWorkspace", {})
    uri = (workspace / "README.md").as_uri()
    open_document(client, uri, (workspace / "README.md").read_text())
    (workspace / "README.md").write_text("# Changed\n" + "changed words " * 600)
    client.text_document_did_save(
        types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    await client.recorder.wait_for("greycloud/cacheStatus", lambda n: n["stale"])
    state = await execute(client, "greycloud.workspaceCacheState", {})
    assert state["state"] == "stale" and "README.md" in state["cache"]["staleReason"]

    # asking the stale one is allowed, and the result says so
    answer = await execute(
        client, "greycloud.generate", {"prompt": "hi [[words=3]]", "cachedContent": "workspace"}
    )
    assert answer["cachedContent"] == old["name"] and answer["cacheStale"] is True
    by_name = await execute(
        client, "greycloud.generate", {"prompt": "hi [[words=3]]", "cachedContent": old["name"]}
    )
    assert by_name["cacheStale"] is True and by_name["cost"]["cachedTokens"] > 0

    new = await execute(client, "greycloud.cacheWorkspace", {"refresh": True})
    state = await execute(client, "greycloud.workspaceCacheState", {})
    assert state["state"] == "fresh" and state["cache"]["name"] == new["name"]
    assert cache_store(adc_env.state).get(old["name"]) is None
    deleted = await client.recorder.wait_for("greycloud/cacheStatus", lambda n: n["deleted"])
    assert deleted["name"] == old["name"]


async def test_expiry_is_announced(start_session, adc_env, workspace):
    client = await start_session(workspace=workspace, settings={"model": "gemini-2.5-flash"})
    created = await execute(client, "greycloud.cacheWorkspace", {"ttlSeconds": 2})
    gone = await client.recorder.wait_for(
        "greycloud/cacheStatus", lambda n: n["deleted"], timeout=NO_HANG
    )
    assert gone["name"] == created["name"] and gone["reason"] == "expired"
    state = await execute(client, "greycloud.workspaceCacheState", {})
    assert state["state"] == "none"
