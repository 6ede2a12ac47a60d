"""Several editor sessions in one process: what they share and what they keep apart."""

from __future__ import annotations

import asyncio
import gc
import weakref
from typing import Any

from greycloud.quotas import base_model, quota_key
from greycloud_lsp.features.token_counts.live_counts import TokenTracker
from greycloud_lsp.server import create_server
from greycloud_lsp.shared_state import SharedState
from tests.helpers import PROMPTLY

ENV = {"PROJECT_ID": "p1", "LOCATION": "us-central1"}


async def session(shared: SharedState, settings: dict[str, Any], environ=ENV) -> Any:
    server = create_server(shared, environ=environ)
    server.told = []  # what window/showMessage would have shown
    server.show_warning = server.told.append
    server.workspace_settings = settings
    await server.reload_settings()
    return server


def test_base_model_and_quota_key():
    assert base_model("publishers/google/models/gemini-2.5-flash-001") == "gemini-2.5-flash"
    assert base_model("gemini-2.5-pro@002") == "gemini-2.5-pro"
    assert base_model("gemini-3-flash-preview") == "gemini-3-flash-preview"


async def test_one_limiter_per_quota_and_the_smallest_limits_hold(fake_gcloud):
    shared = SharedState()
    a = await session(shared, {"rpm": 100, "maxConcurrency": 4})
    client_a = a.get_client()
    assert (client_a.rate_limiter.rpm, client_a.rate_limiter.max_concurrency) == (100, 4)
    b = await session(shared, {"rpm": 30, "maxConcurrency": 8})
    client_b = b.get_client()
    assert client_b.rate_limiter is client_a.rate_limiter
    assert (client_a.rate_limiter.rpm, client_a.rate_limiter.max_concurrency) == (30, 4)
    for _ in range(3):
        a.get_client()
        b.get_client()
    assert len(a.told) == 1 and "rpm=30 (you asked 100)" in a.told[0]
    assert len(b.told) == 1 and "maxConcurrency=4 (you asked 8)" in b.told[0]
    assert shared.status()["quotas"] == [
        {
            "project": "p1",
            "location": "us-central1",
            "model": "gemini-3-flash-preview",
            "rpm": 30,
            "tpm": 250_000,
            "maxConcurrency": 4,
            "inFlight": 0,
            "waiting": 0,
            "source": "local",
            "periodSeconds": 60.0,
            "requests": 0,
            "tokens": 0,
            "waitingTokens": 0,
            "blockedSeconds": 0.0,
            "tpmCounts": "input",
        }
    ]
    await shared.aclose()


async def test_one_session_raising_its_limits_gets_them(fake_gcloud):
    shared = SharedState()
    a = await session(shared, {"rpm": 10, "maxConcurrency": 2})
    limiter = a.get_client().rate_limiter
    a.workspace_settings = {"rpm": 40, "maxConcurrency": 6}
    await a.reload_settings()
    assert a.get_client().rate_limiter is limiter
    assert (limiter.rpm, limiter.max_concurrency) == (40, 6)
    assert a.told == []  # nobody else holds it back
    await shared.aclose()


async def test_limits_follow_the_sessions_that_ask_for_them(fake_gcloud):
    """A session that changes its settings or leaves no longer holds the others back."""
    shared = SharedState()
    a = await session(shared, {"rpm": 100, "maxConcurrency": 4})
    limiter = a.get_client().rate_limiter
    b = await session(shared, {"rpm": 30, "maxConcurrency": 8})
    b.get_client()
    assert (limiter.rpm, limiter.max_concurrency) == (30, 4)
    b.workspace_settings = {"rpm": 200, "maxConcurrency": 8}
    await b.reload_settings()
    assert (limiter.rpm, limiter.max_concurrency) == (100, 4)  # at once, not at b's next call
    a.workspace_settings = {"rpm": 300, "maxConcurrency": 12}
    await a.reload_settings()
    assert (limiter.rpm, limiter.max_concurrency) == (200, 8)
    await b.cleanup()
    assert (limiter.rpm, limiter.max_concurrency) == (300, 12)
    assert a.get_client().rate_limiter is limiter and a.told == []
    await a.cleanup()
    await shared.aclose()


async def test_other_quotas_get_their_own_limiter(fake_gcloud):
    shared = SharedState()
    a = await session(shared, {})
    other_model = a.get_client("gemini-2.5-pro")
    other_project = (await session(shared, {"projectId": "p2"})).get_client()
    limiters = {id(c.rate_limiter) for c in (a.get_client(), other_model, other_project)}
    assert len(limiters) == 3
    assert quota_key(other_model.config) == ("p1", "us-central1", "gemini-2.5-pro")
    await shared.aclose()


async def test_equal_configs_share_a_client_and_limiter(fake_gcloud):
    shared = SharedState()
    a = await session(shared, {"temperature": 0.5})
    b = await session(shared, {"temperature": 0.5})
    c = await session(shared, {"temperature": 0.9})
    assert a.get_client() is b.get_client()
    assert c.get_client() is not a.get_client()
    assert c.get_client().rate_limiter is a.get_client().rate_limiter
    await shared.aclose()


async def test_identical_text_is_counted_once_for_all_sessions(adc_env):
    shared = SharedState()
    settings = {"tokenCount": {"mode": "api"}}
    a = await session(shared, settings, environ=None)
    b = await session(shared, settings, environ=None)
    text = "shared memo " * 50
    first = await a.get_feature(TokenTracker).count_exact(text)
    second = await b.get_feature(TokenTracker).count_exact(text)
    assert first == second and first[1] == "api"
    assert len(adc_env.state.requests_for("countTokens")) == 1
    await shared.aclose()


async def test_a_session_leaving_closes_only_its_own_state(fake_gcloud):
    shared = SharedState()
    a = await session(shared, {})
    b = await session(shared, {})
    client = b.get_client()
    await a.cleanup()
    assert b.get_client() is client, "a leaving session closed a shared client"
    assert shared.status()["clients"] == 1
    await b.cleanup()
    await shared.aclose()
    assert shared.status()["clients"] == 0


async def test_cache_deleted_when_the_last_holder_leaves():
    shared = SharedState()
    deleted: list[str] = []

    async def delete() -> None:
        deleted.append("c1")

    shared.caches.add("c1", object(), "session-a", delete)
    shared.caches.add("c2", object(), "session-a", None)  # deleteOnExit off
    shared.caches.acquire("c1", "session-b")
    shared.caches.release_all("session-a")
    assert deleted == [] and "c1" in shared.caches
    shared.caches.release_all("session-b")
    assert "c1" not in shared.caches  # forgotten at once, deleted in the background
    assert "c2" in shared.caches
    await shared.background.join(5)
    assert deleted == ["c1"]
    await shared.aclose()
    assert deleted == ["c1"]


async def test_a_leaving_session_releases_limits_before_a_slow_delete_finishes(fake_gcloud):
    """Release is synchronous; the remote delete is background work the shared state owns."""
    shared = SharedState()
    a = await session(shared, {"rpm": 100})
    strict = await session(shared, {"rpm": 5})
    limiter = a.get_client().rate_limiter
    strict.get_client()
    assert limiter.rpm == 5
    started, finish = asyncio.Event(), asyncio.Event()

    async def slow_delete() -> None:
        started.set()
        await finish.wait()

    shared.caches.add("c1", object(), strict, slow_delete)
    await strict.cleanup(timeout=0.2)
    assert limiter.rpm == 100  # at once, though the delete has not finished
    assert shared.status()["limitHolders"] == 1
    await asyncio.wait_for(started.wait(), 5)
    assert shared.status()["backgroundJobs"] == 1
    finish.set()
    await shared.background.join(5)
    assert shared.status()["backgroundJobs"] == 0 and shared.background.done >= 1
    gone = weakref.ref(strict)
    del strict
    # Work the session started (a settings resolution in a worker thread) may still be
    # finishing on a busy machine; a session the shared state holds never goes.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PROMPTLY
    gc.collect()
    while gone() is not None and loop.time() < deadline:
        await asyncio.sleep(0.05)
        gc.collect()
    assert gone() is None, "the shared state still holds the closed session"
    await shared.aclose()


async def test_a_client_is_closed_when_its_last_session_leaves(fake_gcloud):
    shared = SharedState()
    a = await session(shared, {"temperature": 0.5})
    b = await session(shared, {"temperature": 0.5})
    c = await session(shared, {"temperature": 0.9})
    only_c = c.get_client()
    assert a.get_client() is b.get_client()
    assert shared.status()["clients"] == 2
    await c.cleanup()
    assert shared.status()["clients"] == 1
    await shared.background.join(5)
    assert only_c._client is None  # closed (it never connected)
    await a.cleanup()
    assert shared.status()["clients"] == 1  # b still uses it
    await b.cleanup()
    assert shared.status()["clients"] == 0
    await shared.aclose()


async def test_limits_alone_make_no_new_client(fake_gcloud):
    shared = SharedState()
    a = await session(shared, {"rpm": 10})
    b = await session(shared, {"rpm": 20, "maxConcurrency": 3, "tpm": 1000})
    assert a.get_client() is b.get_client()
    await shared.aclose()


async def test_closing_the_shared_state_deletes_what_is_left():
    shared = SharedState()
    deleted: list[str] = []

    async def delete() -> None:
        deleted.append("c1")

    shared.caches.add("c1", object(), "session-a", delete)
    await shared.aclose()
    assert deleted == ["c1"]


async def test_emulator_mode_overrides_the_sessions_connection(fake_gcloud):
    emulator_env = {"PROJECT_ID": "emulator-project", "GREYCLOUD_ENDPOINT": "http://127.0.0.1:9/"}
    shared = SharedState(emulator_url="http://127.0.0.1:9/", emulator_environ=emulator_env)
    environ = {**ENV, "GREYCLOUD_USE_API_KEY": "true", "GREYCLOUD_MODEL": "gemini-2.5-pro"}
    s = await session(shared, {"projectId": "elsewhere"}, environ=environ)
    config = s.config
    assert (config.project_id, config.endpoint, config.use_api_key, config.model) == (
        "emulator-project",
        "http://127.0.0.1:9/",
        False,
        "gemini-2.5-pro",
    )
    await shared.aclose()


async def test_exit_ends_only_the_session_when_it_has_an_exit_hook(fake_gcloud):
    from greycloud_lsp.features.lifecycle import handlers as lifecycle

    shared = SharedState()
    s = await session(shared, {})
    ended: list[int] = []
    s.exit_hook = ended.append
    lifecycle.on_exit(s)
    assert ended == [1]  # no shutdown request came first
    await shared.aclose()


async def test_tpm_counts_setting_reaches_the_quotas_limiter(fake_gcloud):
    shared = SharedState()
    server = await session(shared, {"tpmCounts": "total"})
    assert server.get_client().rate_limiter.tpm_counts == "total"
    bad = await session(SharedState(), {"tpmCounts": "output"})
    assert bad.get_client().rate_limiter.tpm_counts == "input"  # rejected: the default holds
    assert any("tpmCounts: must be one of input, uncached-input, total" in t for t in bad.told)
