"""``greycloud-lsp`` as editors start it: stdio <-> the per-user daemon.

The forwarder passes LSP messages through unchanged, watching just enough to
survive the daemon dying: requests the editor is waiting for are answered with
a JSON-RPC error, a new daemon is started, the session is replayed into it
(`SessionMirror`) and the replay's own answers are swallowed. Answers the
editor sends to requests of the dead daemon are dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
from typing import Any

from greycloud_lsp.forwarder.autostart import Connection, connect_or_start, exchange
from greycloud_lsp.forwarder.document_mirror import SessionMirror
from greycloud_lsp.wire import handshake
from greycloud_lsp.wire.framing import (
    FramingError,
    StdoutWriter,
    encode,
    frame,
    read_message,
    stdio_streams,
)
from greycloud_lsp.wire.handshake import SESSION_ENDED
from greycloud_lsp.wire.socket_paths import DaemonPaths, DaemonUnavailable

log = logging.getLogger(__name__)

REQUEST_FAILED = -32803  # LSP RequestFailed
DAEMON_GONE = (
    "GreyCloud: the greycloud-lsp daemon stopped while handling this request; "
    "a new daemon took over the session, please try again."
)
REPLAY_PREFIX = "greycloud-replay-"
PROGRESS_ENDED = "GreyCloud: the language server daemon restarted; this task stopped."
CACHE_STATUS = "greycloud/cacheStatus"
CACHE_ORPHANED = (
    "the greycloud-lsp daemon holding it stopped; the next daemon takes it over if it can"
)


class Forwarder:
    """One editor session forwarded to the daemon at ``paths``."""

    def __init__(
        self,
        paths: DaemonPaths,
        command: list[str],
        hello: dict[str, Any],
        standalone_command: list[str] | None = None,
    ) -> None:
        self.paths = paths
        self.command = command
        self.hello = hello
        self.standalone_command = standalone_command
        """Run when no daemon can be restarted mid-session: the session continues in it."""
        self.mirror = SessionMirror()
        self.daemon_pid: int | None = None
        self._connection: Connection | None = None
        self._connected = asyncio.Event()
        self._pending: dict[str, Any] = {}  # editor requests in flight: key -> id
        self._daemon_requests: set[str] = set()
        self._replay_ids = (f"{REPLAY_PREFIX}{n}" for n in itertools.count(1))
        self._swallow: set[str] = set()
        self._exiting = False
        self._ended: int | None = None
        self._editor_gone = False
        self._stdout: StdoutWriter | None = None
        self._progress: dict[str, Any] = {}  # begun, not ended: key -> token
        self._caches: dict[str, dict[str, Any]] = {}  # last live greycloud/cacheStatus by name

    async def connect(self) -> None:
        """Reach (or start) the daemon and open a session; raises if impossible.

        Raises :class:`DaemonUnavailable` or :class:`handshake.HandshakeError`
        (e.g. a daemon of another version), which callers answer by running
        standalone.
        """
        connection = await connect_or_start(self.paths, self.command)
        try:
            answer = await exchange(connection, self.hello)
        except BaseException:
            connection[1].close()
            raise
        self._connection = connection
        self.daemon_pid = answer.get("pid")
        log.info(
            "session %s on daemon %s (%s)",
            answer.get("session"),
            self.daemon_pid,
            self.paths.socket,
        )
        self._connected.set()

    async def run(self) -> int:
        """Forward until the editor leaves; returns the exit status."""
        stdin, self._stdout = await stdio_streams()
        editor = asyncio.create_task(self._pump_editor(stdin))
        daemon = asyncio.create_task(self._pump_daemon())
        done, _ = await asyncio.wait({editor, daemon}, return_when=asyncio.FIRST_COMPLETED)
        for task in (editor, daemon):
            if task not in done:
                task.cancel()
        await asyncio.gather(editor, daemon, return_exceptions=True)
        if self._connection is not None:
            self._connection[1].close()
        code = daemon.result() if daemon in done and not daemon.exception() else 0
        return code if isinstance(code, int) else 0

    # -- editor -> daemon -------------------------------------------------------

    async def _pump_editor(self, stdin: asyncio.StreamReader) -> None:
        while True:
            try:
                body = await read_message(stdin)
            except (FramingError, asyncio.IncompleteReadError) as exc:
                log.error("bad input from the editor: %s", exc)
                body = None
            if body is None:
                self._editor_gone = True
                log.info("editor closed stdin")
                return
            message = _parse(body)
            await self._connected.wait()
            # From here to the write nothing awaits: the mirror and the daemon agree.
            if message is not None and not self._from_editor(message):
                continue
            assert self._connection is not None
            self._connection[1].write(frame(body))

    def _from_editor(self, message: dict[str, Any]) -> bool:
        """Track ``message``; False to drop it."""
        method = message.get("method")
        if method is None and "id" in message:  # the editor answers a daemon request
            key = _key(message["id"])
            if key in self._daemon_requests:
                self._daemon_requests.discard(key)
                return True
            log.debug("dropping an answer meant for a previous daemon")
            return False
        if "id" in message:
            self._pending[_key(message["id"])] = message["id"]
        if method == "exit":
            self._exiting = True
        self.mirror.observe_client(message)
        return True

    # -- daemon -> editor -------------------------------------------------------

    async def _pump_daemon(self) -> int:
        while True:
            assert self._connection is not None
            try:
                body = await read_message(self._connection[0])
            except (FramingError, asyncio.IncompleteReadError, ConnectionError) as exc:
                log.warning("daemon stream broke: %s", exc)
                body = None
            if body is None:
                if self._ended is not None:
                    return self._ended
                if self._exiting or self._editor_gone:
                    return 0
                if not await self._reconnect():
                    return 1
                continue
            message = _parse(body)
            if message is not None and not self._from_daemon(message):
                continue
            self._write_editor(frame(body))

    def _from_daemon(self, message: dict[str, Any]) -> bool:
        method = message.get("method")
        if method == "$/progress" or method == CACHE_STATUS:
            self._track(method, message.get("params"))
        if method == SESSION_ENDED:
            code = (message.get("params") or {}).get("code")
            self._ended = code if isinstance(code, int) else 0
            return False
        if "id" in message and "method" not in message:
            key = _key(message["id"])
            if key in self._swallow:  # the answer to a replayed initialize
                self._swallow.discard(key)
                self.mirror.observe_initialize_result(message.get("result"))
                return False
            if self._pending.pop(key, None) is not None and key == self._initialize_key():
                self.mirror.observe_initialize_result(message.get("result"))
        elif "id" in message:
            self._daemon_requests.add(_key(message["id"]))
        return True

    def _track(self, method: str, params: Any) -> None:
        """Progress begun and not ended, and the caches the editor believes live."""
        if not isinstance(params, dict):
            return
        if method == CACHE_STATUS:
            name = params.get("name")
            if isinstance(name, str):
                if params.get("deleted"):
                    self._caches.pop(name, None)
                else:
                    self._caches[name] = params
            return
        value = params.get("value")
        kind = value.get("kind") if isinstance(value, dict) else None
        if kind == "begin":
            self._progress[_key(params.get("token"))] = params.get("token")
        elif kind == "end":
            self._progress.pop(_key(params.get("token")), None)

    def _daemon_died(self) -> None:
        """Tell the editor what the dead daemon cannot: its progress ended, its caches are unsure.

        A cache the next daemon takes back is announced again by it.
        """
        for token in self._progress.values():
            self._write_editor(
                encode(
                    _notification(
                        "$/progress",
                        {"token": token, "value": {"kind": "end", "message": PROGRESS_ENDED}},
                    )
                )
            )
        self._progress.clear()
        for status in self._caches.values():
            orphaned = {**status, "stale": True, "reason": CACHE_ORPHANED, "deleted": False}
            self._write_editor(encode(_notification(CACHE_STATUS, orphaned)))
        self._caches.clear()

    def _initialize_key(self) -> str | None:
        initialize = self.mirror.initialize
        return _key(initialize.get("id")) if initialize else None

    def _write_editor(self, data: bytes) -> None:
        assert self._stdout is not None
        self._stdout.write(data)

    # -- recovery ---------------------------------------------------------------

    async def _start_standalone(self) -> bool:
        """No daemon: continue this session in a ``--standalone`` child process."""
        if not self.standalone_command:
            return False
        log.warning("no daemon could be started; continuing this session standalone")
        try:
            child = await asyncio.create_subprocess_exec(
                *self.standalone_command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                limit=1 << 24,
            )
        except OSError as exc:
            log.error("cannot start a standalone server: %s", exc)
            return False
        assert child.stdout is not None and child.stdin is not None
        self._connection = (child.stdout, child.stdin)
        self.daemon_pid = child.pid
        self._connected.set()
        return True

    async def _reconnect(self) -> bool:
        """The daemon is gone: fail what was in flight, start another, replay."""
        self._connected.clear()
        log.warning(
            "daemon %s went away; starting a new one and replaying the session", self.daemon_pid
        )
        if self._connection is not None:
            self._connection[1].close()
            self._connection = None
        for request_id in self._pending.values():
            self._write_editor(
                encode(
                    {
                        "jsonrpc": "2.0",
                        "id": request_id,
                        "error": {"code": REQUEST_FAILED, "message": DAEMON_GONE},
                    }
                )
            )
        self._pending.clear()
        self._daemon_requests.clear()
        self._daemon_died()
        for attempt in range(3):
            try:
                await self.connect()
                break
            except (DaemonUnavailable, handshake.HandshakeError, OSError) as exc:
                log.error("could not reach a new daemon (attempt %d): %s", attempt + 1, exc)
                await asyncio.sleep(0.5)
        else:
            if not await self._start_standalone():
                log.error("giving up: restart the language server (or use --standalone)")
                return False
        self._connected.clear()  # connect() set it; the replay goes first
        assert self._connection is not None
        replay_id = next(self._replay_ids)
        self._swallow.add(_key(replay_id))
        for message in self.mirror.replay(replay_id):
            self._connection[1].write(encode(message))
        with contextlib.suppress(ConnectionError):
            await self._connection[1].drain()
        log.info(
            "session replayed into pid %s (%d open documents)",
            self.daemon_pid,
            len(self.mirror.documents),
        )
        self._connected.set()
        return True


def _parse(body: bytes) -> dict[str, Any] | None:
    try:
        message = json.loads(body)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None


def _key(request_id: Any) -> str:
    return json.dumps(request_id)


def _notification(method: str, params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": method, "params": params}


def session_hello(log_file: str | None, log_level: str) -> dict[str, Any]:
    """The handshake that opens this process's session."""
    return handshake.hello(
        "session",
        environ=handshake.session_environment(),
        editor_pid=os.getppid(),
        window=handshake.new_window_id(),
        log_file=os.path.abspath(log_file) if log_file else None,
        log_level=log_level,
    )
