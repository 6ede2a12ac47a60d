"""Several editor sessions on one daemon share one quota and one cache, and nothing else."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from greycloud.emulator.cache_routes import cache_store
from greycloud.emulator.keys import write_service_account_key
from tests.daemon.daemon_helpers import status, wait_until
from tests.helpers import NO_HANG, cache_creations, daemon_processes, statuses
from tests.lsp.lsp_helpers import counted, execute, language_servers, open_document
from tests.lsp.test_cache import make_workspace

QUOTA = 8  # requests per minute the emulator allows this project
WINDOW_B_PRINCIPAL = "window-b@emulator-project.iam.gserviceaccount.com"


async def test_three_windows_share_one_quota(adc_env, tmp_path):
    """The issue's scenario: 3 windows, each configured with the project's quota, 3x backlog."""
    adc_env.state.set_quota(rpm=QUOTA)
    async with language_servers(tmp_path, mode="daemon") as start:
        windows = [await start(settings={"rpm": QUOTA, "maxConcurrency": 4}) for _ in range(3)]
        assert len(daemon_processes(tmp_path / "run")) == 1
        backlog = [
            asyncio.ensure_future(
                execute(window, "greycloud.generate", {"prompt": f"w{w} n{i} [[words=5]]"})
            )
            for w, window in enumerate(windows)
            for i in range(QUOTA)
        ]

        async def quota_used() -> bool:
            return len(statuses(adc_env, "streamGenerateContent")) >= QUOTA

        await wait_until(quota_used, timeout=30)
        await asyncio.sleep(2.0)  # more would have been sent by now without sharing
        sent = statuses(adc_env, "streamGenerateContent")
        assert sent.count(429) == 0, sent
        assert len(sent) >= 0.95 * QUOTA
        assert len(sent) <= QUOTA
        (quota,) = (await status())["quotas"]
        assert quota["rpm"] == QUOTA and quota["waiting"] + quota["inFlight"] > 0
        for future in backlog:
            future.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*backlog, return_exceptions=True)


async def test_two_windows_on_one_folder_share_one_cache(adc_env, tmp_path):
    cache_store(adc_env.state).clear()
    workspace = make_workspace(tmp_path / "ws")
    async with language_servers(tmp_path, mode="daemon") as start:
        first = await start(workspace=workspace)
        second = await start(workspace=workspace)
        created = await execute(first, "greycloud.cacheWorkspace", {})
        answer = await execute(
            second,
            "greycloud.generate",
            {"prompt": "Summarise [[words=5]]", "cachedContent": created["name"]},
        )
        assert answer["usage"]["cachedTokens"] > 0
        (cache,) = (await status())["caches"]
        assert cache["name"] == created["name"] and cache["sessions"] == 2
        creates = cache_creations(adc_env)
        assert len(creates) == 1

        # deleteOnExit: the cache outlives the first window, not the last one
        await first.shutdown_session()
        assert cache_store(adc_env.state).get(created["name"]) is not None
        (cache,) = (await status())["caches"]
        assert cache["sessions"] == 1
        await second.shutdown_session()

        async def deleted() -> bool:
            return cache_store(adc_env.state).get(created["name"]) is None

        await wait_until(deleted, timeout=10)


async def test_the_second_window_asks_the_first_windows_cache_and_both_see_it_go_stale(
    adc_env, tmp_path
):
    """Ask the workspace from a second window: no second upload; a save there reaches both."""
    cache_store(adc_env.state).clear()
    workspace = make_workspace(tmp_path / "ws")
    async with language_servers(tmp_path, mode="daemon") as start:
        first = await start(workspace=workspace)
        second = await start(workspace=workspace)
        created = await execute(first, "greycloud.cacheWorkspace", {})
        state = await execute(second, "greycloud.workspaceCacheState", {})
        assert state["state"] == "fresh" and state["cache"]["name"] == created["name"]
        answer = await execute(
            second,
            "greycloud.generate",
            {"prompt": "Summarise [[words=5]]", "cachedContent": "workspace"},
        )
        assert answer["cachedContent"] == created["name"]
        assert answer["usage"]["cachedTokens"] > 0
        creates = cache_creations(adc_env)
        assert len(creates) == 1

        readme = workspace / "README.md"
        uri = readme.as_uri()
        open_document(second, uri, readme.read_text())
        readme.write_text("# Changed\n")
        second.text_document_did_save(
            types.DidSaveTextDocumentParams(
                text_document=types.TextDocumentIdentifier(uri=uri), text="# Changed\n"
            )
        )
        for window in (first, second):
            stale = await window.recorder.wait_for(
                "greycloud/cacheStatus", lambda n: n["stale"], timeout=NO_HANG
            )
            assert stale["name"] == created["name"] and "README.md" in stale["reason"]


async def test_a_session_cannot_read_another_sessions_documents(adc_env, tmp_path):
    async with language_servers(tmp_path, mode="daemon") as start:
        alice = await start()
        mallory = await start()
        uri = "untitled:notes-1"
        open_document(alice, uri, "ALICE-UNSAVED-SECRET")
        await counted(alice, uri)  # alice's own live count is not a leak: let it land first
        await execute(
            alice,
            "greycloud.generate",
            {"prompt": "ok [[words=2]]", "textDocument": {"uri": uri}, "includeDocument": True},
        )
        assert "ALICE-UNSAVED-SECRET" in str(adc_env.state.requests_for("streamGenerateContent"))
        adc_env.state.reset()
        with pytest.raises(JsonRpcException):
            await execute(
                mallory,
                "greycloud.generate",
                {"prompt": "x [[words=2]]", "textDocument": {"uri": uri}, "includeDocument": True},
            )
        assert "ALICE" not in str(adc_env.state.requests)
        mine = (await status())["sessions"]
        assert sorted(s["documents"] for s in mine) == [0, 1]


async def test_smallest_limits_hold_and_the_others_are_told_once(adc_env, tmp_path):
    async with language_servers(tmp_path, mode="daemon") as start:
        generous = await start(settings={"rpm": 40})
        strict = await start(settings={"rpm": 10})
        await execute(generous, "greycloud.generate", {"prompt": "a [[words=2]]"})
        await execute(strict, "greycloud.generate", {"prompt": "b [[words=2]]"})
        for _ in range(2):
            await execute(generous, "greycloud.generate", {"prompt": "c [[words=2]]"})
        (quota,) = (await status())["quotas"]
        assert quota["rpm"] == 10
        told = [m.message for m in generous.messages if "smallest limits hold" in m.message]
        assert len(told) == 1 and "rpm=10 (you asked 40)" in told[0], told
        assert not [m for m in strict.messages if "smallest limits hold" in m.message]

        async def rpm_in_force(expected: int) -> bool:
            (quota,) = (await status())["quotas"]
            return quota["rpm"] == expected

        await strict.shutdown_session()  # the strict window closes: its limit goes with it
        await wait_until(lambda: rpm_in_force(40), timeout=NO_HANG)


async def test_each_window_authenticates_with_its_own_environment(adc_env, tmp_path):
    """The daemon was started from window A's environment (its key file); window B has
    no GOOGLE_APPLICATION_CREDENTIALS but its own gcloud config with an application-default
    login (another CLOUDSDK_CONFIG, as a second gcloud configuration directory gives)."""
    gcloud_b = tmp_path / "gcloud-b"
    gcloud_b.mkdir()
    write_service_account_key(
        gcloud_b / "application_default_credentials.json",
        token_uri=adc_env.url + "token",
        client_email=WINDOW_B_PRINCIPAL,
    )
    async with language_servers(tmp_path, mode="daemon") as start:
        window_a = await start()
        window_b = await start(
            env={"GOOGLE_APPLICATION_CREDENTIALS": None, "CLOUDSDK_CONFIG": str(gcloud_b)}
        )
        assert len(daemon_processes(tmp_path / "run")) == 1
        await execute(window_a, "greycloud.generate", {"prompt": "from a [[words=2]]"})
        await execute(window_b, "greycloud.generate", {"prompt": "from b [[words=2]]"})
    principals = {
        str(r.body["contents"][0]["parts"][0]["text"]): r.principal
        for r in adc_env.state.requests_for("streamGenerateContent")
    }
    assert principals["from b [[words=2]]"] == WINDOW_B_PRINCIPAL
    assert principals["from a [[words=2]]"] != WINDOW_B_PRINCIPAL
