"""Private files, peer-uid check, no TCP, handshake refusals; daemon status/stop and idle exit."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from greycloud_lsp.wire import handshake
from greycloud_lsp.wire.socket_paths import daemon_paths
from tests.daemon.daemon_helpers import RawSession, daemon_cli, status, wait_until
from tests.helpers import NO_HANG, daemon_processes, kill_daemons
from tests.lsp.lsp_helpers import execute, language_servers


def _mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


async def test_socket_and_directory_are_private(adc_env, tmp_path):
    session = await RawSession.start()
    try:
        await session.initialize()
        paths = daemon_paths()
        assert _mode(paths.directory) == 0o700
        assert stat.S_ISSOCK(os.lstat(paths.socket).st_mode)
        assert _mode(paths.socket) == 0o600
        for path in (paths.pid_file, paths.lock, paths.log_file):
            assert _mode(path) == 0o600, path
        (daemon,) = daemon_processes(tmp_path / "run")
        assert not [c for c in daemon.net_connections(kind="inet")], "the daemon opened TCP"
    finally:
        await session.close()


async def test_loose_directory_permissions_are_tightened(adc_env, tmp_path):
    paths = daemon_paths()
    paths.directory.mkdir(parents=True)
    os.chmod(paths.directory, 0o755)
    session = await RawSession.start()
    try:
        await session.initialize()
        assert _mode(paths.directory) == 0o700
    finally:
        await session.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
async def test_other_users_are_refused(adc_env, tmp_path):
    # Another user must be able to reach the socket for the uid check to matter: a
    # runtime dir outside pytest's private tree, with the doors the permissions close opened.
    runtime = Path(tempfile.mkdtemp(prefix="gc-uid-"))
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime)}
    session = await RawSession.start(env=env)
    try:
        await session.initialize()
        paths = daemon_paths(environ=env)
        os.chmod(runtime, 0o755)
        os.chmod(paths.directory, 0o755)
        os.chmod(paths.socket, 0o666)
        intruder = (
            "import os, socket, sys\n"
            "os.setgid(65534); os.setuid(65534)\n"
            "s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])\n"
            "try:\n"
            "    s.sendall(sys.argv[2].encode() + b'\\n')\n"
            "except (BrokenPipeError, ConnectionResetError):\n"
            "    pass  # refused at accept, before our hello: the answer is already queued\n"
            "print(s.makefile('rb').readline().decode())\n"
        )
        hello = handshake.encode(handshake.hello("status"))[:-1].decode()
        result = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-c", intruder, str(paths.socket), hello],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert '"ok":false' in result.stdout, result.stderr
        assert '"reason":"permission"' in result.stdout
        assert "sessions" not in result.stdout
    finally:
        await session.close()
        kill_daemons(runtime)
        shutil.rmtree(runtime, ignore_errors=True)


async def test_bad_handshakes_are_refused_cleanly(adc_env, tmp_path):
    session = await RawSession.start()
    try:
        await session.initialize()
        paths = daemon_paths()
        for line, reason in (
            (b"not json\n", "malformed"),
            (b'{"greycloud-daemon": 99, "version": "9.9", "request": "status"}\n', "version"),
            (handshake.encode(handshake.hello("format-disk")), "malformed"),
        ):
            reader, writer = await asyncio.open_unix_connection(str(paths.socket))
            writer.write(line)
            answer = await handshake.read_line(reader)
            writer.close()
            assert answer["ok"] is False and answer["reason"] == reason, answer
        assert len((await status())["sessions"]) == 1  # the daemon is unharmed
    finally:
        await session.close()


async def test_status_and_stop_commands(adc_env, tmp_path):
    assert daemon_cli("status").returncode == 3  # none running
    async with language_servers(tmp_path, mode="daemon") as start:
        client = await start(settings={"rpm": 30})
        await execute(client, "greycloud.generate", {"prompt": "hi [[words=2]]"})
        shown = await asyncio.to_thread(daemon_cli, "status")
        assert shown.returncode == 0, shown.stderr
        assert "sessions: 1" in shown.stdout and "quotas in use (local" in shown.stdout
        (row,) = [line for line in shown.stdout.splitlines() if "gemini-3-flash" in line]
        assert row.split()[:2] == ["emulator-project/us-central1/gemini-3-flash-preview", "1/30"]
        before = await status()
        stopped = await asyncio.to_thread(daemon_cli, "stop")
        assert f"stopped greycloud-lsp daemon {before['pid']}" in stopped.stdout
        assert not psutil.pid_exists(before["pid"]) or psutil.Process(before["pid"]).status() == (
            psutil.STATUS_ZOMBIE
        )
        # the window replays into a fresh daemon on its own
        result = await execute(client, "greycloud.generate", {"prompt": "again [[words=2]]"})
        assert result["text"]
        assert (await status())["pid"] != before["pid"]


async def test_idle_daemon_exits_and_removes_its_files(adc_env, tmp_path):
    session = await RawSession.start("--idle-timeout", "1")
    await session.initialize()
    (daemon,) = daemon_processes(tmp_path / "run")
    paths = daemon_paths()
    await session.request("shutdown", None)
    session.send({"method": "exit"})
    assert await asyncio.wait_for(session.process.wait(), 10) == 0
    left = time.monotonic()
    await asyncio.to_thread(daemon.wait, 10)
    assert 0.5 < time.monotonic() - left < 5
    assert not paths.socket.exists() and not paths.pid_file.exists()


async def _session_asking_idle(seconds: float | None, root: Path) -> RawSession:
    """A forwarder session (daemon started with a 120 s timeout) with ``daemon.idleTimeout``."""
    session = await RawSession.start("--idle-timeout", "120")
    options = {} if seconds is None else {"daemon": {"idleTimeout": seconds}}
    await session.request(
        "initialize",
        {
            "processId": None,
            "rootUri": root.as_uri(),
            "capabilities": {},
            "initializationOptions": options,
        },
    )
    session.send({"method": "initialized", "params": {}})
    return session


async def _leave(session: RawSession) -> None:
    await session.request("shutdown", None)
    session.send({"method": "exit"})
    assert await asyncio.wait_for(session.process.wait(), NO_HANG) == 0


async def test_idle_timeout_setting_outranks_the_flag(adc_env, tmp_path):
    """daemon.idleTimeout: the longest of the attached sessions holds; the last to leave decides."""
    brief = await _session_asking_idle(1, tmp_path)
    patient = await _session_asking_idle(30, tmp_path)
    plain = await _session_asking_idle(None, tmp_path)
    try:

        async def effective(expected: float) -> bool:
            answer = await status()
            return answer is not None and answer["idleTimeoutSeconds"] == expected

        await wait_until(lambda: effective(30), timeout=NO_HANG)  # not the flag's 120
        (daemon,) = daemon_processes(tmp_path / "run")
        await _leave(patient)
        await _leave(plain)
        await wait_until(lambda: effective(1), timeout=NO_HANG)
        await _leave(brief)
        left = time.monotonic()
        await asyncio.to_thread(daemon.wait, NO_HANG)
        assert time.monotonic() - left < 20  # 1 s asked; the others asked 30 and 120
    finally:
        for session in (brief, patient, plain):
            await session.close()


async def test_emulator_sessions_use_their_own_daemon(tmp_path):
    plain = await RawSession.start("--standalone")
    emulated = await RawSession.start("--emulator")
    try:
        await asyncio.gather(plain.initialize(), emulated.initialize())
        assert await status() is None  # --standalone started no daemon
        info = await wait_until(lambda: status("emulator"))
        assert len(info["sessions"]) == 1 and info["kind"] == "emulator"
        assert daemon_paths("emulator").socket.exists()
    finally:
        await plain.close()
        await emulated.close()


@pytest.mark.parametrize("mode", [["--standalone"], []], ids=["standalone", "daemon"])
async def test_emulator_credentials_are_removed_when_the_server_ends(tmp_path, mode):
    """``--emulator`` writes a service-account key for its emulator; it leaves with the process."""
    temp = tmp_path / "temp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp)}
    session = await RawSession.start("--emulator", *mode, env=env)
    await session.initialize()
    assert list(temp.glob("greycloud-lsp-emulator-*"))  # the server (or its daemon) wrote a key
    await session.request("shutdown", None)
    session.send({"method": "exit"})
    assert await asyncio.wait_for(session.process.wait(), NO_HANG) == 0
    if not mode:  # daemon mode: the emulator daemon holds the key until it stops
        stop = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "greycloud_lsp", "daemon", "stop", "--emulator", env=env
        )
        assert await asyncio.wait_for(stop.wait(), NO_HANG) == 0
    assert not list(temp.glob("greycloud-lsp-emulator-*"))


async def test_the_forwarder_log_is_redacted(adc_env, tmp_path):
    """Bad input the forwarder quotes in its log (stderr and --log-file) has secrets masked."""
    log_file = tmp_path / "forwarder.log"
    secret = "AIza" + "Sy0123456789abcdefghijklmnopqrstu"
    session = await RawSession.start("--log-file", str(log_file))
    try:
        await session.initialize()
        assert session.process.stdin is not None
        session.process.stdin.write(f"Content-Length: {secret}\r\n\r\n".encode())
        await session.process.stdin.drain()
        session.process.stdin.close()
        stderr = await asyncio.wait_for(session.stderr(), NO_HANG)
    finally:
        await session.close()
    written = log_file.read_text()
    assert "bad Content-Length 'AIza***'" in stderr, stderr
    assert "bad Content-Length 'AIza***'" in written
    assert secret not in stderr and secret not in written
    assert _mode(log_file) == 0o600
