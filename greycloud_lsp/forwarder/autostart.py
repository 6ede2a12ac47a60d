"""Connect to the daemon, starting one (detached) when none answers.

Several forwarders may find no daemon at the same moment: the one holding
``<kind>.spawn.lock`` starts a daemon, the others keep trying to connect; the
daemon's own lock guarantees one daemon even if two get started anyway. A
socket file nobody answers on (a crashed daemon) counts as "none running":
the new daemon replaces it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import subprocess
import sys
import time
from typing import Any

from greycloud_lsp.common.processes import pid_alive
from greycloud_lsp.wire import handshake
from greycloud_lsp.wire.daemon_environment import daemon_environment
from greycloud_lsp.wire.socket_paths import (
    DaemonPaths,
    DaemonUnavailable,
    ensure_private_directory,
    open_private,
)

log = logging.getLogger(__name__)

START_TIMEOUT_SECONDS = 15.0
STREAM_LIMIT = 1 << 24
_NOT_RUNNING = (errno.ENOENT, errno.ECONNREFUSED)

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def daemon_command(kind: str, idle_timeout: float | None, log_level: str) -> list[str]:
    """The command line of a daemon of ``kind``."""
    command = [sys.executable, "-m", "greycloud_lsp", "daemon", "run", "--log-level", log_level]
    if kind == "emulator":
        command.append("--emulator")
    if idle_timeout is not None:
        command += ["--idle-timeout", str(idle_timeout)]
    return command


def _spawn(paths: DaemonPaths, command: list[str]) -> int:
    """Start ``command`` detached (its own session, reparented away from us); its pid.

    A shell backgrounds it and exits, so the daemon is nobody's child here: it
    outlives this forwarder and never lingers as its zombie. Its environment is
    this one scrubbed (`daemon_environment`): no credential, project or gcloud
    variable of this window, which sessions send in their handshake instead.
    """
    log_fd = open_private(paths.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        launcher = subprocess.run(
            ["/bin/sh", "-c", 'exec "$@" </dev/null >/dev/null & echo $!', "sh", *command],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log_fd,
            cwd=paths.directory,
            start_new_session=True,
            close_fds=True,
            env=daemon_environment(),
            check=True,
            timeout=10,
        )
    finally:
        os.close(log_fd)
    return int(launcher.stdout.strip())


def _log_tail(paths: DaemonPaths, lines: int = 5) -> str:
    try:
        text = paths.log_file.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return " | ".join(text.strip().splitlines()[-lines:])


async def open_connection(paths: DaemonPaths) -> Connection:
    """Connect to a running daemon (``OSError`` when none answers)."""
    return await asyncio.open_unix_connection(os.fspath(paths.socket), limit=STREAM_LIMIT)


async def connect_or_start(
    paths: DaemonPaths, command: list[str], timeout: float = START_TIMEOUT_SECONDS
) -> Connection:
    """A connection to the daemon at ``paths``, starting it with ``command`` if needed.

    Raises :class:`DaemonUnavailable` saying why no daemon could be reached.
    """
    ensure_private_directory(paths.directory)
    deadline = time.monotonic() + timeout
    spawn_lock: int | None = None
    spawned: int | None = None
    gone = 0
    try:
        while True:
            try:
                return await open_connection(paths)
            except OSError as exc:
                if exc.errno not in _NOT_RUNNING:
                    raise DaemonUnavailable(f"cannot connect to {paths.socket}: {exc}") from exc
            if spawned is None and spawn_lock is None:
                spawn_lock = _try_lock(paths)
                if spawn_lock is not None:
                    log.info("starting a daemon: %s", " ".join(command))
                    try:
                        spawned = await asyncio.to_thread(_spawn, paths, command)
                    except (OSError, ValueError, subprocess.SubprocessError) as exc:
                        raise DaemonUnavailable(f"cannot start the daemon: {exc}") from exc
            if spawned is not None and not pid_alive(spawned):
                gone += 1  # one more try: it may have left because another daemon serves
                if gone > 2:
                    raise DaemonUnavailable(f"the daemon exited at start: {_log_tail(paths)}")
            if time.monotonic() > deadline:
                raise DaemonUnavailable(
                    f"no daemon answered on {paths.socket} within {timeout:.0f} s "
                    f"(see {paths.log_file}): {_log_tail(paths)}"
                )
            await asyncio.sleep(0.02)
    finally:
        if spawn_lock is not None:
            os.close(spawn_lock)


def _try_lock(paths: DaemonPaths) -> int | None:
    fd = open_private(paths.spawn_lock)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


async def exchange(connection: Connection, hello: dict[str, Any]) -> dict[str, Any]:
    """Send ``hello`` and return the daemon's accepted answer (or raise HandshakeError)."""
    reader, writer = connection
    writer.write(handshake.encode(hello))
    await writer.drain()
    return handshake.check_answer(await handshake.read_line(reader))


async def control(paths: DaemonPaths, request: str) -> dict[str, Any] | None:
    """``status`` or ``stop`` a running daemon; None when none runs."""
    try:
        connection = await open_connection(paths)
    except OSError:
        return None
    try:
        return await exchange(connection, handshake.hello(request))
    finally:
        connection[1].close()
        with contextlib.suppress(Exception):
            await connection[1].wait_closed()
