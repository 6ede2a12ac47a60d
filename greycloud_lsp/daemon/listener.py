"""The per-user daemon: accept loop, peer check, sessions, status/stop, idle timeout.

Exactly one daemon of a kind runs per directory: it holds an exclusive
``flock`` on ``<kind>.lock`` for its whole life (the kernel drops it when the
process dies, so a crashed daemon never blocks the next one), and only the
holder unlinks a stale socket and binds a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import itertools
import logging
import os
import signal
import socket
import struct
import time
from collections.abc import Mapping
from typing import Any

from greycloud_lsp import __version__
from greycloud_lsp.common.processes import pid_alive
from greycloud_lsp.daemon.attached_session import AttachedSession
from greycloud_lsp.wire import handshake
from greycloud_lsp.wire.socket_paths import (
    DaemonPaths,
    DaemonUnavailable,
    ensure_private_directory,
    open_private,
)

log = logging.getLogger(__name__)

DEFAULT_IDLE_TIMEOUT = 60.0
LOCK_WAIT_SECONDS = 5.0
STOP_GRACE_SECONDS = 3.0
STREAM_LIMIT = 1 << 24
STARTUP_GRACE_SECONDS = 10.0
"""A fresh daemon waits at least this long for the forwarder that started it."""


def peer_credentials(sock: socket.socket) -> tuple[int, int, int] | None:
    """(pid, uid, gid) of the process at the other end, or None where unsupported."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    raw = sock.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", raw)
    return pid, uid, gid


def connectable(path: os.PathLike[str] | str) -> bool:
    """True if something accepts connections on the unix socket ``path``."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(os.fspath(path))
        return True
    except OSError:
        return False
    finally:
        probe.close()


class AlreadyRunning(Exception):
    """Another daemon of this kind holds the lock and answers on the socket."""


class Daemon:
    """Serves every connecting forwarder as its own LSP session over one `SharedState`."""

    def __init__(
        self,
        paths: DaemonPaths,
        *,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        emulator_url: str | None = None,
        emulator_env: Mapping[str, str] | None = None,
    ) -> None:
        from greycloud_lsp.shared_state import SharedState

        self.paths = paths
        self.idle_timeout = idle_timeout
        self.shared = SharedState(emulator_url=emulator_url, emulator_environ=emulator_env)
        self.sessions: dict[int, AttachedSession] = {}
        self._tasks: dict[int, asyncio.Task[Any]] = {}
        self._numbers = itertools.count(1)
        self._started = time.monotonic()
        self._stopping: asyncio.Event | None = None
        self._idle: asyncio.TimerHandle | None = None
        self._idle_asked_by_last: float | None = None
        self._lock_fd: int | None = None
        self._socket_inode: int | None = None
        self._cache_watch: asyncio.Task[Any] | None = None

    # -- life cycle -------------------------------------------------------------

    async def run(self) -> None:
        """Take the lock, bind, serve until stopped or idle, then clean up."""
        ensure_private_directory(self.paths.directory)
        await self._acquire_lock()
        await self._take_over_caches()
        sock = self._bind()
        self._write_pid_file()
        self._stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.add_signal_handler(signum, self.stop)
        listener = await asyncio.start_unix_server(self._accept, sock=sock, limit=STREAM_LIMIT)
        log.info(
            "greycloud-lsp %s daemon %s listening on %s (idle timeout %.0f s)",
            __version__,
            os.getpid(),
            self.paths.socket,
            self.idle_timeout,
        )
        self._arm_idle(minimum=STARTUP_GRACE_SECONDS)
        try:
            await self._stopping.wait()
        finally:
            await self._shutdown(listener)

    async def _take_over_caches(self) -> None:
        """Keep the cache registry in the runtime directory; take over the last daemon's.

        Not for ``--emulator``: its caches live in the embedded emulator, which
        dies with the daemon.
        """
        if self.shared.emulator_url is not None:
            return
        from greycloud_lsp.daemon.cache_file import CacheFile

        store = CacheFile(self.paths.cache_registry)
        records = await asyncio.to_thread(store.load)
        self.shared.caches.store = store
        if records:
            from greycloud_lsp.features.workspace_cache.persistence import (
                restore,
                wait_for_windows,
            )

            restore(self.shared, records)
            self._cache_watch = asyncio.get_running_loop().create_task(
                wait_for_windows(self.shared), name="cache-windows"
            )
        else:
            self.shared.caches.changed()  # the file reflects this daemon from the start

    def stop(self) -> None:
        """Ask the daemon to end (ends every session first)."""
        if self._stopping is not None:
            self._stopping.set()

    async def _acquire_lock(self) -> None:
        fd = open_private(self.paths.lock)
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._lock_fd = fd
                return
            except BlockingIOError:
                pass
            # The holder is either serving (then we are not needed) or exiting.
            if await asyncio.to_thread(connectable, self.paths.socket):
                os.close(fd)
                raise AlreadyRunning(f"a daemon already serves {self.paths.socket}")
            if time.monotonic() > deadline:
                os.close(fd)
                raise DaemonUnavailable(
                    f"{self.paths.lock} is held but nothing answers on {self.paths.socket}"
                )
            await asyncio.sleep(0.05)

    def _bind(self) -> socket.socket:
        path = os.fspath(self.paths.socket)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # stale: we hold the lock, so no live daemon owns it
            log.info("removed stale socket %s", path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        previous = os.umask(0o177)
        try:
            sock.bind(path)
        finally:
            os.umask(previous)
        os.chmod(path, 0o600)
        self._socket_inode = os.stat(path).st_ino
        sock.listen(128)
        sock.setblocking(False)
        return sock

    def _write_pid_file(self) -> None:
        fd = open_private(self.paths.pid_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        with os.fdopen(fd, "w") as handle:
            handle.write(f"{os.getpid()}\n")

    async def _shutdown(self, listener: asyncio.AbstractServer) -> None:
        log.info("daemon stopping: %d session(s) attached", len(self.sessions))
        self._remove_files()  # new forwarders start a fresh daemon from now on
        listener.close()
        if self._cache_watch is not None:
            self._cache_watch.cancel()
        self.shared.caches.hand_over()  # the windows replay: their caches go with them
        for session in list(self.sessions.values()):
            session.end(final=False)  # forwarders replay into a new daemon
        tasks = list(self._tasks.values())
        if tasks:
            await asyncio.wait(tasks, timeout=STOP_GRACE_SECONDS)
        try:
            await asyncio.wait_for(self._close_shared(), STOP_GRACE_SECONDS)
        except (asyncio.TimeoutError, Exception) as exc:
            log.warning("closing shared state incomplete: %s", exc or "timed out")
        log.info("daemon stopped")

    async def _close_shared(self) -> None:
        """Close the shared state; caches of windows whose forwarder died go too (logout)."""
        await self.shared.caches.give_up_waiting(
            lambda _window, pid: pid is not None and not pid_alive(pid)
        )
        await self.shared.aclose()

    def _remove_files(self) -> None:
        """Unlink our socket and pid file (not a successor's)."""
        with contextlib.suppress(OSError):
            if os.stat(self.paths.socket).st_ino == self._socket_inode:
                os.unlink(self.paths.socket)
        with contextlib.suppress(OSError):
            if self.paths.pid_file.read_text().strip() == str(os.getpid()):
                os.unlink(self.paths.pid_file)

    # -- idle timeout -----------------------------------------------------------

    def _arm_idle(self, minimum: float = 0.0) -> None:
        self._disarm_idle()
        if not self.sessions:
            loop = asyncio.get_running_loop()
            delay = max(self.effective_idle_timeout(), minimum, 0.0)
            self._idle = loop.call_later(delay, self._idle_expired)

    def effective_idle_timeout(self) -> float:
        """How long the daemon stays once no session is attached.

        The longest ``daemon.idleTimeout`` the attached sessions' settings ask for
        (once the last one has left: what it asked), else ``--idle-timeout``.
        """
        if self.sessions:
            asked = [s.idle_timeout for s in self.sessions.values() if s.idle_timeout is not None]
        else:
            asked = [] if self._idle_asked_by_last is None else [self._idle_asked_by_last]
        return max(asked) if asked else self.idle_timeout

    def _disarm_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

    def _idle_expired(self) -> None:
        if not self.sessions:
            log.info("no session for %.0f s; exiting", self.effective_idle_timeout())
            self.stop()

    # -- connections ------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._serve_connection(reader, writer)
        except Exception:
            log.exception("connection failed")
        finally:
            if not writer.is_closing():
                writer.close()

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        credentials = peer_credentials(writer.get_extra_info("socket"))
        if credentials is not None and credentials[1] != os.getuid():
            log.warning("refused a connection from uid %s (pid %s)", credentials[1], credentials[0])
            await self._refuse(writer, "permission", "this daemon serves only its own user")
            return
        try:
            hello = await handshake.read_line(reader)
            request = handshake.check_hello(hello)
        except handshake.HandshakeError as exc:
            log.warning("handshake refused: %s", exc)
            await self._refuse(writer, exc.reason, str(exc))
            return
        if request == "status":
            writer.write(handshake.encode(handshake.answer(True, status=self.status())))
            await writer.drain()
        elif request == "stop":
            writer.write(handshake.encode(handshake.answer(True, pid=os.getpid())))
            await writer.drain()
            self.stop()
        else:
            await self._serve_session(hello, reader, writer, credentials)

    async def _refuse(self, writer: asyncio.StreamWriter, reason: str, message: str) -> None:
        writer.write(handshake.encode(handshake.answer(False, reason=reason, message=message)))
        with contextlib.suppress(ConnectionError):
            await writer.drain()

    async def _serve_session(
        self,
        hello: Mapping[str, Any],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        credentials: tuple[int, int, int] | None,
    ) -> None:
        if self._stopping is not None and self._stopping.is_set():
            await self._refuse(writer, "stopping", "the daemon is stopping; start a new one")
            return
        number = next(self._numbers)
        session = AttachedSession(
            number,
            self.shared,
            hello.get("environ", {}),
            peer_pid=credentials[0] if credentials else None,
            editor_pid=_int_or_none(hello.get("editor_pid")),
            window=hello.get("window") if isinstance(hello.get("window"), str) else None,
            log_file=hello.get("log_file") if isinstance(hello.get("log_file"), str) else None,
            log_level=str(hello.get("log_level") or "INFO"),
        )
        self.sessions[number] = session
        self._tasks[number] = asyncio.current_task()  # type: ignore[assignment]
        self._disarm_idle()
        self._follow_log_levels()
        try:
            writer.write(handshake.encode(handshake.answer(True, pid=os.getpid(), session=number)))
            await session.run(reader, writer)
        finally:
            self.sessions.pop(number, None)
            self._tasks.pop(number, None)
            self._follow_log_levels()
            if not self.sessions:
                self._idle_asked_by_last = session.idle_timeout
            if self._stopping is not None and not self._stopping.is_set():
                self._arm_idle()

    def _follow_log_levels(self) -> None:
        from greycloud_lsp.daemon.daemon_logs import follow_sessions

        follow_sessions(s.log_level for s in self.sessions.values())

    # -- status -----------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """What ``greycloud-lsp daemon status`` prints."""
        shared = self.shared.status()
        return {
            "pid": os.getpid(),
            "kind": self.paths.kind,
            "version": __version__,
            "socket": os.fspath(self.paths.socket),
            "uptimeSeconds": round(time.monotonic() - self._started, 1),
            "idleTimeoutSeconds": self.effective_idle_timeout(),
            "logLevel": logging.getLevelName(logging.getLogger("greycloud_lsp").level),
            "sessions": [s.status() for s in self.sessions.values()],
            **shared,
        }


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
