"""Workspace caches survive daemon restarts and are never orphaned (issue 17, item 3).

Real processes: forwarders, daemons killed with SIGKILL or stopped with
``greycloud-lsp daemon stop``, the emulator over HTTP.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import sys
from typing import Any

from greycloud.emulator.cache_routes import cache_store
from greycloud_lsp.forwarder.relay import CACHE_ORPHANED, PROGRESS_ENDED
from greycloud_lsp.wire.socket_paths import daemon_paths
from tests.daemon.daemon_helpers import RawSession, read_frame, status, wait_until
from tests.helpers import NO_HANG
from tests.lsp.lsp_helpers import execute, language_servers
from tests.lsp.test_cache import make_workspace


def registry_file() -> dict[str, Any]:
    """The daemon's cache registry, checked private and whole."""
    path = daemon_paths().cache_registry
    info = os.lstat(path)
    assert stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600
    return json.loads(path.read_text())  # a torn write would not parse


def registered(name: str) -> dict[str, Any] | None:
    return next((c for c in registry_file()["caches"] if c["name"] == name), None)


def deletes(adc_env: Any) -> list[str]:
    return [r.path for r in adc_env.state.requests_for("cachedContents.delete")]


async def new_daemon_holding(name: str, old_pid: int, sessions: int = 1) -> dict[str, Any]:
    """Wait for the daemon after ``old_pid`` to hold ``name`` for ``sessions`` sessions."""

    async def taken_back() -> dict[str, Any] | None:
        try:
            current = await status()
        except OSError:  # the new daemon is binding its socket
            return None
        if current is None or current["pid"] == old_pid:
            return None
        held = [c for c in current["caches"] if c["name"] == name]
        return current if held and held[0]["sessions"] == sessions else None

    return await wait_until(taken_back, timeout=30)


async def test_killed_daemon_the_next_takes_the_cache_back_and_deletes_it_at_close(
    adc_env, tmp_path
):
    cache_store(adc_env.state).clear()
    workspace = make_workspace(tmp_path / "ws")
    async with language_servers(tmp_path, mode="daemon") as start:
        window = await start(workspace=workspace)
        created = await execute(window, "greycloud.cacheWorkspace", {})
        name = created["name"]
        record = registered(name)
        assert record is not None and record["deleteOnExit"] is True
        assert record["project"] and record["location"] and record["model"]
        assert record["folder"] == str(workspace) and "README.md" in str(record["files"])
        (held_by,) = record["windows"]
        before = await status()
        assert held_by["forwarderPid"] == before["sessions"][0]["forwarderPid"]
        assert "GREYCLOUD_API_KEY" not in json.dumps(record)

        os.kill(before["pid"], signal.SIGKILL)
        after = await new_daemon_holding(name, before["pid"])
        assert cache_store(adc_env.state).get(name) is not None and not deletes(adc_env)
        assert registered(name)["windows"] == [held_by]  # same window, across daemons

        # The editor heard the cache was uncertain, then that the new daemon holds it.
        def fresh(s: dict[str, Any]) -> bool:
            return s["name"] == name and not s["stale"] and not s["deleted"]

        statuses = window.recorder.of("greycloud/cacheStatus")
        orphaned = [i for i, s in enumerate(statuses) if s["reason"] == CACHE_ORPHANED]
        assert orphaned and statuses[orphaned[0]]["stale"], statuses

        async def fresh_again() -> bool:
            return any(fresh(s) for s in statuses[orphaned[0] :])

        await wait_until(fresh_again, timeout=NO_HANG)

        answer = await execute(
            window, "greycloud.generate", {"prompt": "Summarise [[words=3]]", "cachedContent": name}
        )
        assert answer["usage"]["cachedTokens"] > 0
        await window.shutdown_session()  # the window closes: its cache goes, in the new daemon

        async def deleted() -> bool:
            return cache_store(adc_env.state).get(name) is None

        await wait_until(deleted, timeout=10)
        assert len(deletes(adc_env)) == 1 and name.endswith(deletes(adc_env)[0].rsplit("/", 1)[-1])
        assert registered(name) is None
        assert (await status())["pid"] == after["pid"]


async def test_daemon_stop_keeps_the_cache_of_an_open_window(adc_env, tmp_path):
    cache_store(adc_env.state).clear()
    workspace = make_workspace(tmp_path / "ws")
    async with language_servers(tmp_path, mode="daemon") as start:
        window = await start(workspace=workspace)
        name = (await execute(window, "greycloud.cacheWorkspace", {}))["name"]
        before = await status()
        stop = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "greycloud_lsp", "daemon", "stop", stdout=asyncio.subprocess.PIPE
        )
        await asyncio.wait_for(stop.communicate(), 60)
        assert stop.returncode == 0
        await new_daemon_holding(name, before["pid"])
        assert not deletes(adc_env) and cache_store(adc_env.state).get(name) is not None
        answer = await execute(
            window,
            "greycloud.generate",
            {"prompt": "Summarise [[words=3]]", "cachedContent": "workspace"},
        )
        assert answer["cachedContent"] == name and answer["usage"]["cachedTokens"] > 0
        assert not deletes(adc_env)


async def test_the_next_daemon_deletes_a_cache_whose_windows_are_gone(adc_env, tmp_path):
    cache_store(adc_env.state).clear()
    workspace = make_workspace(tmp_path / "ws")
    async with language_servers(tmp_path, mode="daemon") as start:
        window = await start(workspace=workspace)
        name = (await execute(window, "greycloud.cacheWorkspace", {}))["name"]
        before = await status()
        forwarder = before["sessions"][0]["forwarderPid"]
        os.kill(forwarder, signal.SIGSTOP)  # it must not replay: the window dies with the daemon
        os.kill(before["pid"], signal.SIGKILL)
        os.kill(forwarder, signal.SIGKILL)
        await asyncio.sleep(0.5)
        assert cache_store(adc_env.state).get(name) is not None  # orphaned, for now

        other = await start()  # any window starts the next daemon, which finds the registry
        assert other is not None

        async def deleted() -> bool:
            return cache_store(adc_env.state).get(name) is None

        await wait_until(deleted, timeout=NO_HANG)
        assert len(deletes(adc_env)) == 1
        assert registered(name) is None


async def test_progress_of_a_dead_daemon_ends_at_the_editor(adc_env, tmp_path):
    session = await RawSession.start()
    try:
        answer = await session.request(
            "initialize",
            {
                "processId": None,
                "rootUri": None,
                "capabilities": {"window": {"workDoneProgress": True}},
            },
        )
        assert "result" in answer
        session.send({"method": "initialized", "params": {}})
        adc_env.state.configure(latency=30.0)
        session.send(
            {
                "id": 99,
                "method": "workspace/executeCommand",
                "params": {"command": "greycloud.generate", "arguments": [{"prompt": "slow"}]},
            }
        )
        assert session.process.stdout is not None
        begun = None
        while begun is None:
            message = await asyncio.wait_for(read_frame(session.process.stdout), NO_HANG)
            if "method" in message and "id" in message:  # workDoneProgress/create: accept
                session.send({"id": message["id"], "result": None})
            elif message.get("method") == "$/progress":
                assert message["params"]["value"]["kind"] == "begin"
                begun = message["params"]["token"]
        os.kill((await status())["pid"], signal.SIGKILL)
        seen: list[dict[str, Any]] = []
        while not any(
            m.get("method") == "$/progress" and m["params"]["token"] == begun for m in seen
        ):
            seen.append(await asyncio.wait_for(read_frame(session.process.stdout), NO_HANG))
        ended = next(m for m in seen if m.get("method") == "$/progress")
        assert ended["params"]["value"] == {"kind": "end", "message": PROGRESS_ENDED}
        failed = [m for m in seen if m.get("id") == 99]
        assert not failed or "daemon stopped" in failed[0]["error"]["message"]
    finally:
        adc_env.state.configure(latency=0.0)
        await session.close()


async def test_the_status_line_stops_saying_fresh_when_nobody_takes_the_cache_over(
    adc_env, tmp_path
):
    """The daemon dies and no daemon can start: the session goes on standalone, which
    does not hold the cache, so the editor's last word on it must not be "fresh"."""
    cache_store(adc_env.state).clear()
    workspace = make_workspace(tmp_path / "ws")
    async with language_servers(tmp_path, mode="daemon") as start:
        window = await start(workspace=workspace)
        name = (await execute(window, "greycloud.cacheWorkspace", {}))["name"]
        before = await status()
        paths = daemon_paths()
        paths.directory.rename(tmp_path / "moved-away")  # no daemon can live here now
        paths.directory.write_text("")
        os.kill(before["pid"], signal.SIGKILL)

        async def orphaned() -> bool:
            return any(
                s["reason"] == CACHE_ORPHANED for s in window.recorder.of("greycloud/cacheStatus")
            )

        await wait_until(orphaned, timeout=NO_HANG)
        state = None
        for _attempt in range(3):  # sent before the forwarder saw the daemon die, it fails
            try:
                state = await execute(window, "greycloud.workspaceCacheState", {})
                break
            except Exception:
                await asyncio.sleep(0.5)
        assert state is not None and state["state"] == "none"  # the standalone child
        last = [s for s in window.recorder.of("greycloud/cacheStatus") if s["name"] == name][-1]
        assert last["stale"] and last["reason"] == CACHE_ORPHANED and not last["deleted"]
