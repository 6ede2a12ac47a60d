"""`greycloud-lsp daemon status|stop` see both daemons: the Vertex AI one and the --emulator one."""

from __future__ import annotations

import asyncio
import json

from tests.daemon.daemon_helpers import RawSession, daemon_cli, status, wait_until
from tests.helpers import NO_HANG


async def _leave_daemon_running(*args: str) -> int:
    """Start a session (and so its daemon), end the session; the daemon idles on. Its pid."""
    session = await RawSession.start(*args, "--idle-timeout", "120")
    try:
        await session.initialize()
        kind = "emulator" if "--emulator" in args else "daemon"
        info = await wait_until(lambda: status(kind), timeout=NO_HANG)
        return info["pid"]
    finally:
        await session.close()


async def test_status_and_stop_show_and_choose_both_daemons(adc_env, tmp_path):
    emulator_pid = await _leave_daemon_running("--emulator")
    shown = await asyncio.to_thread(daemon_cli, "status")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert f"greycloud-lsp emulator pid {emulator_pid}" in shown.stdout
    assert "no greycloud-lsp" not in shown.stdout

    vertex_pid = await _leave_daemon_running()
    shown = await asyncio.to_thread(daemon_cli, "status")
    assert f"greycloud-lsp daemon pid {vertex_pid}" in shown.stdout
    assert f"greycloud-lsp emulator pid {emulator_pid}" in shown.stdout
    listed = json.loads((await asyncio.to_thread(daemon_cli, "status", "--json")).stdout)
    assert [(s["kind"], s["pid"]) for s in listed] == [
        ("daemon", vertex_pid),
        ("emulator", emulator_pid),
    ]
    one = json.loads((await asyncio.to_thread(daemon_cli, "status", "--json", "--emulator")).stdout)
    assert one["kind"] == "emulator" and one["pid"] == emulator_pid

    stopped = await asyncio.to_thread(daemon_cli, "stop", "--emulator")
    assert stopped.stdout.strip() == f"stopped greycloud-lsp emulator daemon {emulator_pid}", (
        stopped.stderr
    )
    assert await status("emulator") is None and (await status())["pid"] == vertex_pid
    only_vertex = await asyncio.to_thread(daemon_cli, "status", "--vertex")
    assert only_vertex.returncode == 0 and "emulator" not in only_vertex.stdout

    emulator_pid = await _leave_daemon_running("--emulator")
    stopped = await asyncio.to_thread(daemon_cli, "stop")
    assert stopped.stdout.splitlines() == [
        f"stopped greycloud-lsp daemon {vertex_pid}",
        f"stopped greycloud-lsp emulator daemon {emulator_pid}",
    ]
    none = await asyncio.to_thread(daemon_cli, "status")
    assert none.returncode == 3
    assert "no greycloud-lsp daemon or emulator daemon is running" in none.stdout
    assert (await asyncio.to_thread(daemon_cli, "status", "--json")).stdout.strip() == "[]"
    nothing = await asyncio.to_thread(daemon_cli, "stop")
    assert nothing.returncode == 0 and "is running" in nothing.stdout
