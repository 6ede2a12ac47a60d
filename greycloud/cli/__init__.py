"""The ``greycloud`` command line.

Each sub-command lives in its own module with a ``register(subparsers)``
function; handlers take ``(args, config)`` and return an exit code. Errors
print one line on stderr and exit non-zero, without a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from greycloud.errors import ADC_LOGIN_HINT, GreyCloudError

if TYPE_CHECKING:
    from greycloud.config import GreyCloudConfig

Handler = Callable[[argparse.Namespace, "GreyCloudConfig"], int]

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _command_modules() -> list[object]:
    from greycloud.cli import emulator, generate, quota, run

    modules: list[object] = [generate, emulator, quota, run]
    for name in ("cache", "batch"):
        with contextlib.suppress(ImportError):
            modules.append(__import__(f"greycloud.cli.{name}", fromlist=["register"]))
    return modules


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="greycloud",
        description="Gemini on Vertex AI from the command line.",
    )
    parser.add_argument(
        "--emulator",
        action="store_true",
        help="run against an in-process Vertex AI emulator (no Google account needed)",
    )
    parser.add_argument("--project", help="Google Cloud project (default: PROJECT_ID or gcloud)")
    parser.add_argument("--location", help="Vertex AI location (default: LOCATION or us-central1)")
    parser.add_argument(
        "--log-level",
        default="WARNING",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="logging detail on stderr (default: WARNING)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _command_modules():
        module.register(subparsers)  # type: ignore[attr-defined]
    return parser


EMULATOR_NOTE = (
    "greycloud: note: this answer came from the local emulator (--emulator), not from Gemini: "
    f"it echoes your prompt and adds placeholder words. To ask Gemini for real, {ADC_LOGIN_HINT}"
    ' once, then `greycloud --project YOUR_PROJECT generate "..."` (without --emulator).'
)


@contextlib.contextmanager
def _embedded_emulator(enabled: bool) -> Iterator[None]:
    """Start the emulator and point the environment at it for the command's duration."""
    if not enabled:
        yield
        return
    from greycloud.emulator import EmulatorServer

    with tempfile.TemporaryDirectory(prefix="greycloud-emulator-") as directory:
        server = EmulatorServer().start()
        saved = dict(os.environ)
        try:
            os.environ.update(server.start_default_credentials(directory))
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)
            server.stop()


def _config(args: argparse.Namespace) -> GreyCloudConfig:
    from greycloud.config import GreyCloudConfig

    return GreyCloudConfig(project_id=args.project, location=args.location)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``greycloud`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(levelname)s %(name)s: %(message)s")
    handler: Handler = args.handler
    try:
        if args.command == "emulator":
            return handler(args, None)  # type: ignore[arg-type]
        with _embedded_emulator(args.emulator):
            code = handler(args, _config(args))
        if args.emulator and args.command == "generate" and code == 0:
            print(EMULATOR_NOTE, file=sys.stderr)
        return code
    except KeyboardInterrupt:
        print("greycloud: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (GreyCloudError, ValueError, TypeError, OSError) as exc:
        print(f"greycloud: error: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
