"""``greycloud emulator``: run the local Vertex AI emulator in the foreground."""

from __future__ import annotations

import argparse

from greycloud.config import GreyCloudConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``emulator`` to the command line."""
    parser = subparsers.add_parser("emulator", help="serve the local Vertex AI emulator")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8085, help="port (default 8085; 0 = any)")
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds added to every model request"
    )
    parser.set_defaults(handler=run_emulator)


def run_emulator(args: argparse.Namespace, _config: GreyCloudConfig | None) -> int:
    """Serve until interrupted."""
    from greycloud.emulator import run_forever

    run_forever(args.host, args.port, latency=args.latency)
    return 0
