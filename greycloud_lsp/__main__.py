"""``greycloud-lsp`` / ``python -m greycloud_lsp``: start the language server.

By default this process is a thin forwarder to the per-user daemon
(``greycloud_lsp.daemon``); ``--standalone`` (or ``--tcp``) serves the editor
in this process, as does a forwarder whose daemon cannot start.
``greycloud-lsp daemon status|stop|run`` manages the daemon.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import Any

from greycloud_lsp import __version__
from greycloud_lsp.common.embedded_emulator import start_emulator

log = logging.getLogger("greycloud_lsp")

EXIT_GRACE_SECONDS = 1.5


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="greycloud-lsp", description="GreyCloud language server (Gemini on Vertex AI)."
    )
    parser.add_argument(
        "--stdio", action="store_true", help="talk LSP over stdin/stdout (the default)"
    )
    parser.add_argument(
        "--standalone",
        action="store_true",
        help="serve this editor in this process instead of through the per-user daemon",
    )
    parser.add_argument(
        "--idle-timeout",
        metavar="SECONDS",
        help="a daemon started by this command exits after this long without a session "
        "(default 60; $GREYCLOUD_DAEMON_IDLE_TIMEOUT)",
    )
    parser.add_argument(
        "--tcp", metavar="HOST:PORT", help="listen on TCP instead of stdio (implies --standalone)"
    )
    parser.add_argument(
        "--emulator",
        action="store_true",
        help="run the embedded Vertex AI emulator and use it (no Google account needed)",
    )
    parser.add_argument("--log-file", metavar="PATH", help="also write logs to this file")
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR", "debug", "info", "warning", "error"],
    )
    parser.add_argument("--version", action="version", version=f"greycloud-lsp {__version__}")
    parser.epilog = "greycloud-lsp daemon {status,stop,run} --help: the per-user daemon"
    return parser.parse_args(argv)


def _parse_tcp(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise SystemExit(f"--tcp expects HOST:PORT, got {value!r}")
    return host or "127.0.0.1", int(port)


async def serve_stdio(server: Any) -> None:
    """Read LSP messages from stdin until it closes, then clean up (bounded)."""
    from pygls.io_ import StdinAsyncReader, StdoutWriter

    from greycloud_lsp._pygls_compat import serve

    reader = StdinAsyncReader(sys.stdin.buffer, server.thread_pool)
    try:
        await serve(server, reader, StdoutWriter(sys.stdout.buffer))
    except (BrokenPipeError, ConnectionError):
        pass
    log.info("input closed; shutting down")
    await server.cleanup(timeout=EXIT_GRACE_SECONDS)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``greycloud-lsp`` console script."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["daemon"]:
        from greycloud_lsp.command_line import daemon_main

        daemon_main(argv[1:])
        return
    args = parse_args(argv)
    fallback = None
    if not (args.standalone or args.tcp):
        from greycloud_lsp.command_line import forward

        fallback = forward(args)  # returns only when the daemon cannot serve us
        print(f"greycloud-lsp: running standalone: {fallback}", file=sys.stderr)
    run_standalone(args, fallback)


def run_standalone(args: argparse.Namespace, fallback: str | None = None) -> None:
    """Serve one editor in this process (today's one-process mode)."""
    emulator, variables = start_emulator() if args.emulator else (None, {})

    from greycloud_lsp.common.logging_setup import setup_logging
    from greycloud_lsp.features.lifecycle.handlers import hard_exit
    from greycloud_lsp.server import create_server
    from greycloud_lsp.shared_state import SharedState

    shared = None
    if emulator is not None:
        shared = SharedState(emulator_url=emulator.url, emulator_environ=variables)
    server = create_server(shared)
    server.owns_shared = True
    handler = setup_logging(server, args.log_level, args.log_file)
    if fallback:
        log.warning("daemon unavailable, running standalone: %s", fallback)
    if emulator is not None:
        log.info("embedded emulator at %s", emulator.url)
    code = 0
    try:
        if args.tcp:
            host, port = _parse_tcp(args.tcp)
            server.start_tcp(host, port)
        else:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            handler.loop = loop
            loop.run_until_complete(serve_stdio(server))
    except (KeyboardInterrupt, SystemExit) as exc:
        code = exc.code if isinstance(exc, SystemExit) and isinstance(exc.code, int) else 0
    if emulator is not None:
        emulator.stop()
    # Worker threads (a blocked stdin read, a slow HTTP call) must not keep us alive.
    hard_exit(code)


if __name__ == "__main__":
    main()
