"""Expected errors reach the editor as one clear line; their traceback only the log file.

Driven from a raw stdio client (every frame the server sends is kept), standalone
and through the daemon.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.daemon.daemon_helpers import RawSession
from tests.helpers import NO_HANG


def _log_messages(session: RawSession) -> list[dict]:
    return [m["params"] for m in session.messages if m.get("method") == "window/logMessage"]


@pytest.mark.parametrize("mode", [["--standalone"], []], ids=["standalone", "daemon"])
async def test_expected_errors_log_one_line_and_keep_the_traceback_in_the_file(
    adc_env, tmp_path, mode
):
    log_file = tmp_path / "server.log"
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    (tiny / "a.txt").write_text("just a few words\n")
    session = await RawSession.start(*mode, "--log-level", "DEBUG", "--log-file", str(log_file))
    try:
        await session.request(
            "initialize",
            {
                "processId": None,
                "rootUri": tiny.as_uri(),
                "workspaceFolders": [{"uri": tiny.as_uri(), "name": "tiny"}],
                "capabilities": {},
            },
            timeout=NO_HANG,
        )
        session.send({"method": "initialized", "params": {}})
        not_open = (tmp_path / "missing.md").as_uri()
        failures = {
            "file not open": (
                "greycloud.generate",
                {"prompt": "x", "textDocument": {"uri": not_open}, "insert": "replace"},
                -32602,
            ),
            "invalid params": ("greycloud.generate", {"prompt": 7}, -32602),
            "cache refused": ("greycloud.cacheWorkspace", {"folder": tiny.as_uri()}, -32803),
        }
        for command, argument, code in failures.values():
            answer = await session.request(
                "workspace/executeCommand",
                {"command": command, "arguments": [argument]},
                timeout=NO_HANG,
            )
            assert answer["error"]["code"] == code, answer
        await session.request("shutdown", None, timeout=NO_HANG)  # reads what came before
        logged = _log_messages(session)
        assert not [m for m in logged if "Traceback" in m["message"]], logged
        assert not [m for m in logged if m["type"] == 1], "an expected error logged as Error"
        one_liners = [m["message"] for m in logged if "failed:" in m["message"]]
        for expected in ("cannot read", "prompt: expected a string", "can only cache"):
            found = [m for m in one_liners if expected in m]
            assert len(found) == 1, (expected, one_liners)
            (line,) = found
            assert "\n" not in line, line
        session.send({"method": "exit"})
        await asyncio.wait_for(session.process.wait(), NO_HANG)
    finally:
        await session.close()
    written = log_file.read_text()
    assert "Traceback (most recent call last)" in written
    debug_lines = [
        line for line in written.splitlines() if " DEBUG " in line and "failed here" in line
    ]
    assert len(debug_lines) >= 3, written[-3000:]
