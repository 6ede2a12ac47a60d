"""Daemon mode on the command line: the forwarder and `greycloud-lsp daemon ...`."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from typing import Any

from greycloud.quota_status import format_quotas
from greycloud.redaction import RedactingFilter
from greycloud.rules import IDLE_TIMEOUT
from greycloud_lsp.common.log_files import level_number, log_file_handler
from greycloud_lsp.wire.socket_paths import DaemonUnavailable, daemon_paths

log = logging.getLogger(__name__)

# The loggers of the editor's side of the daemon (this module, forwarder/, wire/).
FORWARDER_LOGGERS = (__name__, "greycloud_lsp.forwarder", "greycloud_lsp.wire")

IDLE_TIMEOUT_VARIABLE = "GREYCLOUD_DAEMON_IDLE_TIMEOUT"
STOP_WAIT_SECONDS = 10.0
DAEMON_LOG_LEVEL = "INFO"
"""The ``--log-level`` of a daemon a forwarder starts (``daemon run --log-level`` by hand
sets another)."""


def idle_timeout(value: str | None) -> float | None:
    """Seconds from ``--idle-timeout`` or ``$GREYCLOUD_DAEMON_IDLE_TIMEOUT`` (None: default)."""
    raw = value if value is not None else os.environ.get(IDLE_TIMEOUT_VARIABLE)
    if raw in (None, ""):
        return None
    try:
        seconds: float | None = float(raw)
    except ValueError:
        seconds = None
    if seconds is None or not IDLE_TIMEOUT.admits(seconds):
        raise SystemExit(
            f"idle timeout must be a number of seconds, {IDLE_TIMEOUT.requirement}; "
            f"got {raw!r} (--idle-timeout or ${IDLE_TIMEOUT_VARIABLE})"
        )
    return seconds


def _kind(emulator: bool) -> str:
    return "emulator" if emulator else "daemon"


# -- the forwarder ---------------------------------------------------------------


def forward(args: argparse.Namespace) -> str:
    """Serve this editor through the daemon; returns only with a reason to run standalone.

    Imports stay light here (no pygls, no lsprotocol): a second window's
    ``initialize`` answer waits for this process to start.
    """
    try:
        from greycloud_lsp.forwarder.autostart import daemon_command
        from greycloud_lsp.forwarder.relay import Forwarder, session_hello
        from greycloud_lsp.wire import handshake
    except ImportError as exc:  # no fcntl / unix sockets (Windows)
        return f"daemon mode needs a POSIX system ({exc})"

    _forwarder_logging(args.log_file, args.log_level)
    try:
        paths = daemon_paths(_kind(args.emulator))
    except DaemonUnavailable as exc:
        return str(exc)
    # The daemon's own log stays at INFO whoever starts it: a window's --log-level is that
    # session's (its window/logMessage and --log-file), never the process's for good.
    command = daemon_command(paths.kind, idle_timeout(args.idle_timeout), DAEMON_LOG_LEVEL)
    standalone = [sys.executable, "-m", "greycloud_lsp", "--standalone"]
    standalone += ["--log-level", args.log_level] + (["--emulator"] if args.emulator else [])
    standalone += ["--log-file", args.log_file] if args.log_file else []
    forwarder = Forwarder(
        paths, command, session_hello(args.log_file, args.log_level), standalone_command=standalone
    )
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(forwarder.connect())
    except (DaemonUnavailable, handshake.HandshakeError, OSError) as exc:
        if isinstance(exc, handshake.HandshakeError) and exc.reason == "version":
            return f"{exc}; run `greycloud-lsp daemon stop` to replace that daemon"
        return str(exc)
    code = 1
    try:
        code = loop.run_until_complete(forwarder.run())
    except KeyboardInterrupt:
        code = 0
    logging.shutdown()
    os._exit(code)  # a stdin reader thread must not keep us alive


def _forwarder_logging(log_file: str | None, level: str) -> None:
    """stderr (the editor's log) and ``--log-file``, through the same redaction as the
    daemon's log (the forwarder logs paths, pids and errors, which may quote input)."""
    fmt = "%(asctime)s %(levelname)s greycloud-lsp forwarder: %(message)s"
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(logging.Formatter(fmt))
    stderr.addFilter(RedactingFilter())
    handlers: list[logging.Handler] = [stderr]
    if log_file:
        try:
            handlers.append(log_file_handler(log_file, fmt=fmt))
        except OSError as exc:
            print(f"greycloud-lsp: cannot open {log_file}: {exc}", file=sys.stderr)
    for name in FORWARDER_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(level_number(level))
        logger.propagate = False
        for handler in handlers:
            logger.addHandler(handler)


# -- greycloud-lsp daemon status|stop|run ---------------------------------------------


def daemon_main(argv: list[str]) -> None:
    """``greycloud-lsp daemon {status,stop,run}``.

    ``status`` and ``stop`` act on both daemons (the Vertex AI one and the one of
    ``--emulator`` sessions) unless ``--vertex`` or ``--emulator`` picks one.
    """
    parser = argparse.ArgumentParser(
        prog="greycloud-lsp daemon", description="The per-user greycloud-lsp daemons."
    )
    parser.add_argument("action", choices=["status", "stop", "run"])
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--emulator", action="store_true", help="only the daemon of --emulator sessions"
    )
    which.add_argument(
        "--vertex",
        action="store_true",
        help="only the Vertex AI daemon (status/stop act on both by default; run starts it)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="status as JSON: a list of the running daemons (one object with a kind flag)",
    )
    parser.add_argument(
        "--idle-timeout",
        metavar="SECONDS",
        help=f"run: exit after this long without a session (default 60; ${IDLE_TIMEOUT_VARIABLE})",
    )
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    if args.action == "run" or args.emulator or args.vertex:
        kinds = [_kind(args.emulator)]
    else:
        kinds = ["daemon", "emulator"]
    try:
        all_paths = [daemon_paths(kind) for kind in kinds]
    except DaemonUnavailable as exc:
        raise SystemExit(f"greycloud-lsp daemon: {exc}") from None
    if args.action == "run":
        run_daemon(all_paths[0], idle_timeout(args.idle_timeout), args.log_level)
        return
    answers = [(paths, _control(paths, args.action)) for paths in all_paths]
    running = [(paths, answer) for paths, answer in answers if answer is not None]
    statuses = [answer.get("status") for _paths, answer in running]
    if args.action == "status" and args.json and (running or len(kinds) > 1):
        # One daemon asked for: its object, as before; both: a list of the running ones.
        print(json.dumps(statuses[0] if len(kinds) == 1 else statuses, indent=2))
    elif not running:
        sockets = ", ".join(str(paths.socket) for paths in all_paths)
        print(
            f"no greycloud-lsp {' or '.join(_label(p.kind) for p in all_paths)} is running "
            f"({sockets})"
        )
    elif args.action == "status":
        print("\n\n".join(format_status(status) for status in statuses))
    for paths, answer in running if args.action == "stop" else []:
        if not _wait_released(paths.lock, STOP_WAIT_SECONDS):
            raise SystemExit(
                f"greycloud-lsp {_label(paths.kind)} {answer.get('pid')} is still stopping"
            )
        print(f"stopped greycloud-lsp {_label(paths.kind)} {answer.get('pid')}")
    if args.action == "status" and not running:
        raise SystemExit(3)


def _label(kind: str) -> str:
    """``daemon`` (the Vertex AI one) or ``emulator daemon``."""
    return "daemon" if kind == "daemon" else f"{kind} daemon"


def _control(paths: Any, action: str) -> dict[str, Any] | None:
    """Ask one daemon for ``status`` or to ``stop``; None when it does not run."""
    from greycloud_lsp.forwarder.autostart import control
    from greycloud_lsp.wire.handshake import HandshakeError

    try:
        return asyncio.run(control(paths, action))
    except HandshakeError as exc:
        if not (action == "stop" and exc.reason == "version"):
            raise SystemExit(f"greycloud-lsp daemon {action}: {exc}") from None
        return _terminate_other_version(paths)


def _terminate_other_version(paths: Any) -> dict[str, Any]:
    """``stop`` for a daemon of another version (it refuses our handshake): SIGTERM.

    Its pid file is in our private directory, so the pid is our own daemon's; it
    exits as on ``stop`` (sessions told, owned caches deleted, files removed).
    """
    import signal

    try:
        pid = int(paths.pid_file.read_text().strip())
        os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError) as exc:
        raise SystemExit(
            f"greycloud-lsp daemon stop: the running daemon is another version and its pid "
            f"file {paths.pid_file} is unusable ({exc}); stop it with that version's "
            "`greycloud-lsp daemon stop`"
        ) from None
    return {"pid": pid}


def _wait_released(lock: Any, timeout: float) -> bool:
    """Wait until no process holds ``lock`` (the daemon holds it until it has exited)."""
    import fcntl
    import time

    from greycloud_lsp.wire.socket_paths import open_private

    deadline = time.monotonic() + timeout
    fd = open_private(lock)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.05)
    finally:
        os.close(fd)


def format_status(status: dict[str, Any]) -> str:
    """Human-readable ``daemon status``."""
    lines = [
        f"greycloud-lsp {status['kind']} pid {status['pid']} (greycloud {status['version']}), "
        f"up {status['uptimeSeconds']:.0f} s, idle timeout {status['idleTimeoutSeconds']:.0f} s",
        f"socket: {status['socket']}",
        f"sessions: {len(status['sessions'])}",
    ]
    for s in status["sessions"]:
        folders = ", ".join(s["workspaceFolders"]) or "-"
        lines.append(
            f"  #{s['id']}: editor pid {s['editorPid']}, forwarder pid {s['forwarderPid']}, "
            f"{s['documents']} documents, {s['generations']} generations running, "
            f"folders {folders}"
        )
    lines.append(format_quotas(status.get("quotas", []), "quotas in use"))
    caches = status.get("caches", [])
    lines.append(f"caches held: {len(caches)}")
    for c in caches:
        waiting = c.get("waitingWindows")
        back = f", {waiting} window(s) to come back" if waiting else ""
        lines.append(f"  {c['name']}: {c['sessions']} session(s){back}")
    return "\n".join(lines)


def run_daemon(paths: Any, timeout: float | None, log_level: str) -> None:
    """Run the daemon in this process until it is stopped or idle."""
    from greycloud_lsp.daemon.daemon_logs import setup_daemon_logging
    from greycloud_lsp.daemon.listener import DEFAULT_IDLE_TIMEOUT, AlreadyRunning, Daemon
    from greycloud_lsp.features.lifecycle.handlers import hard_exit

    try:
        from greycloud_lsp.wire.socket_paths import ensure_private_directory

        ensure_private_directory(paths.directory)
        setup_daemon_logging(paths.log_file, log_level)
    except (DaemonUnavailable, OSError) as exc:
        print(f"greycloud-lsp daemon: {exc}", file=sys.stderr)
        hard_exit(1)
    from greycloud_lsp.wire.daemon_environment import scrub_process_environment

    dropped = scrub_process_environment()  # sessions bring their own (autostart sends none)
    if dropped:
        log.info("left out of the daemon's environment: %s", ", ".join(dropped))
    emulator = None
    emulator_env: dict[str, str] = {}
    if paths.kind == "emulator":
        from greycloud_lsp.common.embedded_emulator import start_emulator

        emulator, emulator_env = start_emulator()
        log.info("embedded emulator at %s", emulator.url)
    daemon = Daemon(
        paths,
        idle_timeout=DEFAULT_IDLE_TIMEOUT if timeout is None else timeout,
        emulator_url=emulator.url if emulator else None,
        emulator_env=emulator_env,
    )
    code = 0
    try:
        asyncio.run(daemon.run())
    except AlreadyRunning as exc:
        log.info("%s; exiting", exc)
    except DaemonUnavailable as exc:
        log.error("%s", exc)
        print(f"greycloud-lsp daemon: {exc}", file=sys.stderr)
        code = 1
    if emulator is not None:
        emulator.stop()
    hard_exit(code)
