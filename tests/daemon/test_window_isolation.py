"""Windows on one daemon keep to themselves: identity, logging, workspace caches, limits.

Every window is a real ``greycloud-lsp`` process (a forwarder) with its own
environment, on one real daemon, against the emulator over real HTTP.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pygls.exceptions import JsonRpcException

from greycloud.emulator.cache_routes import cache_store
from greycloud.errors import ADC_LOGIN_HINT
from tests.conftest import GCLOUD_NOT_CONFIGURED, FakeGcloud
from tests.daemon.daemon_helpers import status, wait_until
from tests.helpers import NO_HANG, daemon_processes
from tests.lsp.lsp_helpers import execute, language_servers
from tests.lsp.test_cache import make_workspace

WINDOW_B_ACCOUNT = "window-b-user@example.com"
IDENTITY_PREFIXES = ("GOOGLE_", "CLOUDSDK_", "GREYCLOUD_", "GCE_", "GCLOUD_")


def _no_credentials(tmp_path: Path, name: str) -> dict[str, str | None]:
    """A window with no credentials of its own: no key file, an empty gcloud config."""
    home = tmp_path / f"home-{name}"
    gcloud_config = tmp_path / f"gcloud-{name}"
    home.mkdir()
    gcloud_config.mkdir()
    return {
        "GOOGLE_APPLICATION_CREDENTIALS": None,
        "CLOUDSDK_CONFIG": str(gcloud_config),
        "HOME": str(home),
    }


async def _generate_error(window, prompt: str) -> str:
    with pytest.raises(JsonRpcException) as failure:
        await execute(window, "greycloud.generate", {"prompt": prompt})
    return str(failure.value)


def test_the_daemon_keeps_only_what_the_process_needs():
    from greycloud_lsp.wire.daemon_environment import daemon_environment

    window = {
        "PATH": "/usr/bin",
        "HOME": "/home/me",
        "LC_ALL": "C.UTF-8",
        "XDG_RUNTIME_DIR": "/run/user/1000",
        "HTTPS_PROXY": "http://proxy:3128",
        "GOOGLE_APPLICATION_CREDENTIALS": "/home/me/key.json",
        "CLOUDSDK_CONFIG": "/home/me/.config/gcloud-work",
        "CLOUDSDK_CORE_ACCOUNT": "me@example.com",
        "GREYCLOUD_API_KEY": "AIza-not-a-real-key",
        "GOOGLE_API_KEY": "AIza-not-a-real-key",
        "GCE_METADATA_HOST": "169.254.169.254",
        "PROJECT_ID": "my-project",
        "GITHUB_TOKEN": "ghp_x",
    }
    assert daemon_environment(window) == {
        "PATH": "/usr/bin",
        "HOME": "/home/me",
        "LC_ALL": "C.UTF-8",
        "XDG_RUNTIME_DIR": "/run/user/1000",
        "HTTPS_PROXY": "http://proxy:3128",
    }


async def test_a_window_without_credentials_fails_as_it_does_standalone(adc_env, tmp_path):
    """The daemon was started by window A (a key file). B has no credentials: it must not
    run as A's service account but fail with the same actionable error as standalone."""
    environment_b = _no_credentials(tmp_path, "b")
    async with language_servers(tmp_path, mode="daemon") as start:
        window_a = await start()
        window_b = await start(env=environment_b)
        await execute(window_a, "greycloud.generate", {"prompt": "from a [[words=2]]"})
        in_daemon = await _generate_error(window_b, "from b [[words=2]]")
        await execute(window_a, "greycloud.generate", {"prompt": "a again [[words=2]]"})

        (daemon,) = daemon_processes(tmp_path / "run")
        leaked = sorted(
            name
            for name in daemon.environ()
            if name.startswith(IDENTITY_PREFIXES) or "API_KEY" in name or "TOKEN" in name
        )
        assert leaked == [], f"the daemon's environment holds {leaked}"
    async with language_servers(tmp_path, mode="standalone") as start:
        alone = await start(env=environment_b)
        standalone = await _generate_error(alone, "from b [[words=2]]")

    for message in (in_daemon, standalone):
        assert "gcloud could not print an access token" in message, message
        assert GCLOUD_NOT_CONFIGURED in message and ADC_LOGIN_HINT in message, message
    assert in_daemon == standalone
    prompts = [
        r.body["contents"][0]["parts"][0]["text"]
        for r in adc_env.state.requests_for("streamGenerateContent")
    ]
    assert prompts == ["from a [[words=2]]", "a again [[words=2]]"]


async def test_a_window_uses_its_own_gcloud_account_and_project(adc_env, tmp_path):
    """B has no key file but its own gcloud (first on its PATH) with another account and
    project: the emulator sees B's requests as that account in that project."""
    gcloud_b = FakeGcloud(tmp_path / "gcloud-b-bin")
    gcloud_b.set_access_token(adc_env.state.issue_token(WINDOW_B_ACCOUNT))
    gcloud_b.set_project("window-b-project")
    environment_b = {
        **_no_credentials(tmp_path, "b"),
        "PROJECT_ID": None,
        "PATH": f"{gcloud_b.directory}:{Path('/usr/bin')}:{Path('/bin')}",
    }
    async with language_servers(tmp_path, mode="daemon") as start:
        window_a = await start()
        window_b = await start(env=environment_b)
        await execute(window_a, "greycloud.generate", {"prompt": "from a [[words=2]]"})
        await execute(window_b, "greycloud.generate", {"prompt": "from b [[words=2]]"})
        await execute(window_a, "greycloud.generate", {"prompt": "a again [[words=2]]"})
    seen = {
        r.body["contents"][0]["parts"][0]["text"]: (r.principal, r.project)
        for r in adc_env.state.requests_for("streamGenerateContent")
    }
    assert seen["from b [[words=2]]"] == (WINDOW_B_ACCOUNT, "window-b-project")
    for prompt in ("from a [[words=2]]", "a again [[words=2]]"):
        principal, project = seen[prompt]
        assert project == "emulator-project" and principal != WINDOW_B_ACCOUNT
    called = [call[:3] for call in gcloud_b.calls()]
    assert ["auth", "print-access-token", "--quiet"] in called
    assert ["config", "get-value", "project"] in called


async def test_a_debug_window_does_not_make_another_windows_log_debug(adc_env, tmp_path):
    log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
    async with language_servers(tmp_path, mode="daemon") as start:
        window_a = await start(args=["--log-level", "DEBUG", "--log-file", str(log_a)])
        window_b = await start(args=["--log-file", str(log_b)])
        assert (await status())["logLevel"] == "DEBUG"
        for window in (window_a, window_b):
            await execute(window, "greycloud.generate", {"prompt": "hello [[words=2]]"})
        await window_a.shutdown_session()

        async def back_to_info() -> bool:
            current = await status()
            return current["logLevel"] == "INFO" and len(current["sessions"]) == 1

        await wait_until(back_to_info, timeout=NO_HANG)
        await execute(window_b, "greycloud.generate", {"prompt": "again [[words=2]]"})
    assert " DEBUG " in log_a.read_text()
    text_b = log_b.read_text()
    assert " INFO " in text_b and " DEBUG " not in text_b


async def test_workspace_answers_only_from_the_windows_own_folder_and_project(adc_env, tmp_path):
    """A caches repository A. B (repository B) and C (repository A, another project) asking
    "workspace" get the "no cache" outcome, never A's cache; D (A's folder and project) does."""
    cache_store(adc_env.state).clear()
    repo_a = make_workspace(tmp_path / "repo-a")
    repo_b = make_workspace(tmp_path / "repo-b")
    ask = {"prompt": "Summarise [[words=3]]", "cachedContent": "workspace"}
    async with language_servers(tmp_path, mode="daemon") as start:
        window_a = await start(workspace=repo_a)
        created = await execute(window_a, "greycloud.cacheWorkspace", {})
        window_b = await start(workspace=repo_b)
        window_c = await start(workspace=repo_a, env={"PROJECT_ID": "another-project"})
        for window, folder, project in (
            (window_b, repo_b, "emulator-project"),
            (window_c, repo_a, "another-project"),
        ):
            state = await execute(window, "greycloud.workspaceCacheState", {})
            assert state == {"state": "none", "folder": str(folder.resolve()), "cache": None}
            with pytest.raises(JsonRpcException) as refused:
                await execute(window, "greycloud.generate", ask)
            message = str(refused.value)
            assert "no live workspace cache" in message, message
            assert str(folder.resolve()) in message and project in message, message
        window_d = await start(workspace=repo_a)
        answer = await execute(window_d, "greycloud.generate", ask)
        assert answer["cachedContent"] == created["name"]
    used = [
        r.body.get("cachedContent") for r in adc_env.state.requests_for("streamGenerateContent")
    ]
    assert used == [created["name"]]


async def test_a_closed_strict_window_releases_its_limits_at_once_on_a_busy_quota(
    adc_env, tmp_path
):
    """The strict window (rpm=1, already used) holds a deleteOnExit cache; its delete is
    rate limited and slow. Closing it puts the other window's rpm in force at once, drops
    its session and its client, and the cache is still deleted later."""
    cache_store(adc_env.state).clear()
    workspace = make_workspace(tmp_path / "ws")
    strict_settings = {"rpm": 1, "cache": {"minTokens": 0}}
    async with language_servers(tmp_path, mode="daemon") as start:
        strict = await start(workspace=workspace, settings=strict_settings)
        created = await execute(strict, "greycloud.cacheWorkspace", {})  # the minute's 1 request
        generous = await start(workspace=workspace, settings={"rpm": 40})

        async def both_hold() -> dict | None:
            current = await status()
            return current if current["limitHolders"] == 2 else None

        before = await wait_until(both_hold, timeout=NO_HANG)  # once its settings are in
        assert before["quotas"][0]["rpm"] == 1
        assert before["clients"] == 1 and len(before["sessions"]) == 2
        adc_env.state.add_fault(status=None, action="cachedContents.delete", delay=3.0)

        await strict.shutdown_session()
        closed_at = asyncio.get_running_loop().time()

        async def released() -> dict | None:
            current = await status()
            (quota,) = current["quotas"]
            done = quota["rpm"] == 40 and current["limitHolders"] == 1
            done = done and len(current["sessions"]) == 1
            return current if done else None

        after = await wait_until(released, timeout=NO_HANG)
        assert asyncio.get_running_loop().time() - closed_at < 3.0, "limits released late"
        assert after["caches"] == []  # no session holds it any more
        assert cache_store(adc_env.state).get(created["name"]) is not None  # delete pending

        async def deleted() -> bool:
            current = await status()
            gone = cache_store(adc_env.state).get(created["name"]) is None
            return gone and current["backgroundJobs"] == 0 and current["clients"] == 0

        await wait_until(deleted, timeout=NO_HANG)
        deletes = adc_env.state.requests_for("cachedContents.delete")
        assert [d.status for d in deletes] == [200]
        await execute(generous, "greycloud.generate", {"prompt": "still here [[words=2]]"})
        assert (await status())["clients"] == 1


async def test_the_client_count_drops_when_the_only_window_of_a_config_leaves(adc_env, tmp_path):
    async with language_servers(tmp_path, mode="daemon") as start:
        first = await start(settings={"temperature": 0.1})
        second = await start(settings={"temperature": 0.9})
        third = await start(settings={"temperature": 0.1, "rpm": 30})  # limits: same client
        for window in (first, second, third):
            await execute(window, "greycloud.generate", {"prompt": "x [[words=2]]"})
        assert (await status())["clients"] == 2
        await second.shutdown_session()

        async def one_client() -> bool:
            return (await status())["clients"] == 1

        await wait_until(one_client, timeout=NO_HANG)
        await first.shutdown_session()
        assert (await status())["clients"] == 1  # the third window still uses it
