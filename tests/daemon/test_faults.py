"""What daemon mode survives: a killed daemon, a killed editor, races, stale files."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from greycloud_lsp.wire.socket_paths import daemon_paths
from tests.daemon.daemon_helpers import RawSession, status, wait_until
from tests.helpers import daemon_processes
from tests.lsp.lsp_helpers import execute, language_servers, open_document


async def test_daemon_killed_mid_session_then_next_generate_works(adc_env, tmp_path):
    async with language_servers(tmp_path, mode="daemon") as start:
        client = await start(settings={"rpm": 1000})
        other = await start()
        uri = (tmp_path / "doc.md").as_uri()
        open_document(client, uri, "alpha\nbeta\n")
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(
                            start=types.Position(line=1, character=0),
                            end=types.Position(line=1, character=4),
                        ),
                        text="GAMMA-AFTER-EDIT",
                    )
                ],
            )
        )
        before = await status()
        assert len(before["sessions"]) == 2
        adc_env.state.configure(latency=5.0)
        in_flight = asyncio.ensure_future(
            execute(client, "greycloud.generate", {"prompt": "slow [[words=3]]"})
        )

        async def requested() -> bool:
            return bool(adc_env.state.requests_for("streamGenerateContent"))

        await wait_until(requested)
        os.kill(before["pid"], signal.SIGKILL)
        with pytest.raises(JsonRpcException, match="daemon stopped"):
            await asyncio.wait_for(in_flight, 10)

        adc_env.state.configure(latency=0.0)
        result = await execute(
            client,
            "greycloud.generate",
            {"prompt": "again [[words=3]]", "textDocument": {"uri": uri}, "includeDocument": True},
        )
        assert result["text"] and not result["cancelled"]
        body = str(adc_env.state.requests_for("streamGenerateContent")[-1].body)
        assert "alpha\\nGAMMA-AFTER-EDIT\\n" in body  # the replayed document, edit applied
        assert await execute(other, "greycloud.countTokens", {"text": "still here"})
        after = await status()
        assert after["pid"] != before["pid"] and len(after["sessions"]) == 2
        assert len(daemon_processes(tmp_path / "run")) == 1


EDITOR = """
import json, os, subprocess, sys, time
server = subprocess.Popen([sys.executable, "-m", "greycloud_lsp"], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE)
def send(message):
    body = json.dumps({"jsonrpc": "2.0", **message}).encode()
    server.stdin.write(b"Content-Length: %d\\r\\n\\r\\n%s" % (len(body), body))
    server.stdin.flush()
send({"id": 1, "method": "initialize",
      "params": {"processId": os.getpid(), "rootUri": None, "capabilities": {}}})
send({"method": "initialized", "params": {}})
send({"id": 2, "method": "workspace/executeCommand", "params": {
    "command": "greycloud.generate", "arguments": [{"prompt": "endless [[words=5000]]"}]}})
seen = b""
while b"greycloud/generationChunk" not in seen:
    seen = seen[-1000:] + server.stdout.read1(65536)
print(server.pid, flush=True)
while server.stdout.read1(65536):  # keep draining, like an editor
    pass
"""


async def test_killed_editor_session_leaves_within_two_seconds(adc_env, tmp_path):
    """The editor dies mid-generation: its session and generation go, the other window stays."""
    adc_env.state.configure(stream_chunk_delay=0.05)
    async with language_servers(tmp_path, mode="daemon") as start:
        await start()  # another window, which must not notice
        editor = await asyncio.create_subprocess_exec(
            sys.executable, "-c", EDITOR, stdout=asyncio.subprocess.PIPE
        )
        try:
            forwarder_pid = int(await asyncio.wait_for(editor.stdout.readline(), 30))

            async def two_sessions() -> bool:
                return len((await status())["sessions"]) == 2

            await wait_until(two_sessions)
            editor.kill()
            killed = time.monotonic()

            async def one_session() -> bool:
                return len((await status())["sessions"]) == 1

            await wait_until(one_session, timeout=10, interval=0.02)
            assert time.monotonic() - killed < 2.0
            (left,) = (await status())["sessions"]
            assert left["forwarderPid"] != forwarder_pid
            stream = adc_env.state.requests_for("streamGenerateContent")[-1]

            async def stream_closed() -> bool:
                return stream.end_time is not None

            await wait_until(stream_closed, timeout=3)
        finally:
            if editor.returncode is None:
                editor.kill()
            await editor.wait()


async def test_concurrent_start_gives_one_daemon(adc_env, tmp_path):
    sessions = [await RawSession.start() for _ in range(4)]
    try:
        answers = await asyncio.gather(*(s.initialize() for s in sessions))
        assert all("result" in a for a in answers)
        assert len(daemon_processes(tmp_path / "run")) == 1
        assert len((await status())["sessions"]) == 4
    finally:
        for session in sessions:
            await session.close()


async def test_stale_socket_is_replaced(adc_env, tmp_path):
    paths = daemon_paths()
    paths.directory.mkdir(parents=True, mode=0o700)
    crashed = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    crashed.bind(str(paths.socket))  # a daemon that died without cleaning up
    crashed.close()
    paths.pid_file.write_text("999999\n")
    session = await RawSession.start()
    try:
        assert "result" in await session.initialize()
        current = await status()
        assert current["pid"] != 999999 and len(current["sessions"]) == 1
        assert paths.pid_file.read_text().strip() == str(current["pid"])
    finally:
        await session.close()


async def test_unusable_socket_directory_falls_back_to_standalone(adc_env, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    env = {**os.environ, "XDG_RUNTIME_DIR": str(blocker)}
    session = await RawSession.start(env=env)
    try:
        answer = await session.initialize()
        assert answer["result"]["serverInfo"]["name"] == "greycloud-lsp"
        session.process.stdin.close()
        err = await asyncio.wait_for(session.stderr(), 10)
        assert "running standalone" in err and str(blocker) in err
    finally:
        await session.close()
    assert not daemon_processes(blocker)


async def test_daemon_of_another_version_is_not_used(adc_env, tmp_path):
    from greycloud_lsp.wire import handshake

    paths = daemon_paths()
    paths.directory.mkdir(parents=True, mode=0o700)
    hellos = []

    async def old_daemon(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hellos.append(await handshake.read_line(reader))
        refusal = {
            **handshake.answer(False),
            "version": "0.0.1",
            "reason": "version",
            "message": "peer speaks another version",
        }
        writer.write(handshake.encode(refusal))
        await writer.drain()
        writer.close()

    server = await asyncio.start_unix_server(old_daemon, path=str(paths.socket))
    try:
        session = await RawSession.start()
        try:
            answer = await session.initialize()
            assert answer["result"]["serverInfo"]["name"] == "greycloud-lsp"
            session.process.stdin.close()
            err = await asyncio.wait_for(session.stderr(), 10)
            assert "running standalone" in err and "daemon stop" in err
        finally:
            await session.close()
    finally:
        server.close()
    assert hellos and hellos[0]["request"] == "session"
    assert not daemon_processes(tmp_path / "run")


OLD_DAEMON = """
import asyncio, os, signal, sys
from greycloud_lsp.wire import handshake

async def main():
    async def refuse(reader, writer):
        await handshake.read_line(reader)
        refusal = {**handshake.answer(False), "version": "0.0.1", "reason": "version",
                   "message": "peer speaks another version"}
        writer.write(handshake.encode(refusal))
        await writer.drain()
        writer.close()

    server = await asyncio.start_unix_server(refuse, path=sys.argv[1])
    with open(sys.argv[2], "w") as pid_file:
        pid_file.write(str(os.getpid()))
    stopped = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopped.set)
    print("ready", flush=True)
    await stopped.wait()
    server.close()
    os.unlink(sys.argv[1])

asyncio.run(main())
"""


async def test_daemon_stop_replaces_a_daemon_of_another_version(tmp_path):
    """What the forwarder's fallback message tells the user to run works on that daemon."""
    paths = daemon_paths()
    paths.directory.mkdir(parents=True, mode=0o700)
    old = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        OLD_DAEMON,
        str(paths.socket),
        str(paths.pid_file),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert await asyncio.wait_for(old.stdout.readline(), 30) == b"ready\n"
        stop = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "greycloud_lsp",
            "daemon",
            "stop",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(stop.communicate(), 60)
        assert stop.returncode == 0, err.decode()
        assert f"stopped greycloud-lsp daemon {old.pid}" in out.decode()
        assert await asyncio.wait_for(old.wait(), 10) == 0
        assert not paths.socket.exists()
    finally:
        if old.returncode is None:
            old.kill()
            await old.wait()


async def test_session_continues_standalone_when_no_daemon_can_restart(adc_env, tmp_path):
    async with language_servers(tmp_path, mode="daemon") as start:
        client = await start()
        uri = (tmp_path / "kept.md").as_uri()
        open_document(client, uri, "KEPT-ACROSS-THE-FALLBACK")
        before = await status()
        paths = daemon_paths()
        paths.directory.rename(tmp_path / "moved-away")  # no daemon can live here now
        paths.directory.write_text("")
        os.kill(before["pid"], signal.SIGKILL)
        arguments = {"prompt": "go", "textDocument": {"uri": uri}, "includeDocument": True}
        try:  # sent before the forwarder saw the daemon die, it fails like one in flight
            result = await execute(client, "greycloud.generate", arguments)
        except JsonRpcException as exc:
            assert "daemon stopped" in str(exc)
            result = await execute(client, "greycloud.generate", arguments)
        assert result["text"] and not result["cancelled"]
        body = str(adc_env.state.requests_for("streamGenerateContent")[-1].body)
        assert "KEPT-ACROSS-THE-FALLBACK" in body
        assert not daemon_processes(tmp_path / "run")
