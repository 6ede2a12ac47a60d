"""Pure parts of daemon mode: the session mirror, the handshake, the socket paths."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from greycloud_lsp.common.lsp_text import apply_change
from greycloud_lsp.forwarder.document_mirror import SessionMirror
from greycloud_lsp.wire import handshake
from greycloud_lsp.wire.socket_paths import DaemonUnavailable, daemon_paths


def _change(sl: int, sc: int, el: int, ec: int, text: str) -> dict:
    return {
        "range": {"start": {"line": sl, "character": sc}, "end": {"line": el, "character": ec}},
        "text": text,
    }


@pytest.mark.parametrize(
    ("text", "change", "encoding", "expected"),
    [
        ("ab\ncd", _change(1, 1, 1, 2, "X"), "utf-16", "ab\ncX"),
        ("a\r\nb\rc", _change(2, 0, 2, 1, "Z"), "utf-16", "a\r\nb\rZ"),
        ("😀x\ny", _change(0, 2, 0, 3, "!"), "utf-16", "😀!\ny"),  # surrogate pair = 2 units
        ("😀x\ny", _change(0, 4, 0, 5, "!"), "utf-8", "😀!\ny"),
        ("😀x\ny", _change(0, 1, 0, 2, "!"), "utf-32", "😀!\ny"),
        (
            "one\x0ctwo\u2028three\nfour",
            _change(1, 0, 1, 0, "X"),
            "utf-16",
            "one\x0ctwo\u2028three\nXfour",
        ),
        ("short", _change(0, 99, 5, 0, "!"), "utf-16", "short!"),  # clamped, like editors expect
        ("abc", {"text": "whole"}, "utf-16", "whole"),
    ],
)
def test_apply_change(text, change, encoding, expected):
    assert apply_change(text, change, encoding) == expected


def test_mirror_replays_initialize_documents_and_settings():
    mirror = SessionMirror()
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"processId": 7}}
    mirror.observe_client(initialize)
    mirror.observe_initialize_result({"capabilities": {"positionEncoding": "utf-8"}})
    mirror.observe_client({"method": "initialized", "params": {}})
    mirror.observe_client(
        {"method": "workspace/didChangeConfiguration", "params": {"settings": {"a": 1}}}
    )
    item = {"uri": "file:///a", "languageId": "md", "version": 1, "text": "é\n"}
    mirror.observe_client({"method": "textDocument/didOpen", "params": {"textDocument": item}})
    mirror.observe_client(
        {
            "method": "textDocument/didChange",
            "params": {
                "textDocument": {"uri": "file:///a", "version": 3},
                "contentChanges": [_change(0, 2, 0, 2, "!")],  # after é in UTF-8 bytes
            },
        }
    )
    item_b = {"uri": "file:///b", "languageId": "md", "version": 1, "text": "b"}
    mirror.observe_client({"method": "textDocument/didOpen", "params": {"textDocument": item_b}})
    mirror.observe_client(
        {"method": "textDocument/didClose", "params": {"textDocument": {"uri": "file:///b"}}}
    )
    replay = mirror.replay("greycloud-replay-1")
    assert [m["method"] for m in replay] == [
        "initialize",
        "initialized",
        "workspace/didChangeConfiguration",
        "textDocument/didOpen",
    ]
    assert replay[0]["id"] == "greycloud-replay-1" and replay[0]["params"] == {"processId": 7}
    assert replay[-1]["params"]["textDocument"] == {
        "uri": "file:///a",
        "languageId": "md",
        "version": 3,
        "text": "é!\n",
    }


def test_nothing_to_replay_before_initialize():
    assert SessionMirror().replay("x") == []


def test_session_environment_is_what_the_config_reads():
    env = {
        "GOOGLE_APPLICATION_CREDENTIALS": "/k.json",
        "PROJECT_ID": "p",
        "GREYCLOUD_RPM": "5",
        "CLOUDSDK_CONFIG": "/home/me/.config/gcloud-work",
        "EDITOR_SECRET_UNRELATED": "x",
    }
    sent = handshake.session_environment(env)
    assert sent == {
        "GOOGLE_APPLICATION_CREDENTIALS": "/k.json",
        "PROJECT_ID": "p",
        "GREYCLOUD_RPM": "5",
        "CLOUDSDK_CONFIG": "/home/me/.config/gcloud-work",
    }


def test_handshake_checks_version_and_request():
    assert handshake.check_hello(handshake.hello("status")) == "status"
    with pytest.raises(handshake.HandshakeError) as info:
        handshake.check_hello({**handshake.hello("status"), "version": "0.0.1"})
    assert info.value.reason == "version"
    with pytest.raises(handshake.HandshakeError, match="environ"):
        handshake.check_hello(handshake.hello("session", environ={"A": 1}))
    with pytest.raises(handshake.HandshakeError) as info:
        handshake.check_answer(handshake.answer(False, reason="permission", message="no"))
    assert info.value.reason == "permission"


def test_a_window_id_is_checked_and_made_once_per_forwarder():
    window = handshake.new_window_id()
    assert handshake.check_hello(handshake.hello("session", window=window)) == "session"
    for bad in ("", "a/b", "x" * 65, 7):
        with pytest.raises(handshake.HandshakeError, match="window"):
            handshake.check_hello(handshake.hello("session", window=bad))
    from greycloud_lsp.forwarder.relay import session_hello

    assert session_hello(None, "INFO")["window"] != session_hello(None, "INFO")["window"]


def test_socket_paths():
    assert daemon_paths("daemon", {"XDG_RUNTIME_DIR": "/run/user/5"}).socket == Path(
        "/run/user/5/greycloud/daemon.sock"
    )
    fallback = daemon_paths("emulator", {})
    assert (
        fallback.socket
        == Path(tempfile.gettempdir()) / f"greycloud-{os.getuid()}" / "emulator.sock"
    )
    with pytest.raises(DaemonUnavailable, match="XDG_RUNTIME_DIR"):
        daemon_paths("daemon", {"XDG_RUNTIME_DIR": "/x" * 80})


def test_the_forwarder_starts_without_the_server_stack():
    """A second window waits for the forwarder's start-up: no pygls, lsprotocol or genai."""
    import subprocess
    import sys

    code = (
        "import sys, greycloud_lsp.__main__, greycloud_lsp.command_line, "
        "greycloud_lsp.forwarder.relay as f\n"
        "f.session_hello(None, 'INFO')\n"
        "heavy = [m for m in ('pygls', 'lsprotocol', 'google.genai') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
