"""``greycloud run SCRIPT``: run a Python script, e.g. against the emulator.

``greycloud --emulator run examples/chat.py`` starts the embedded emulator,
points the environment at it (as ``--emulator`` does for every command) and
runs the script in this process, so any GreyCloud program runs offline
unchanged.
"""

from __future__ import annotations

import argparse
import runpy
import sys
from pathlib import Path

from greycloud.config import GreyCloudConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``run`` to the command line."""
    parser = subparsers.add_parser(
        "run", help="run a Python script (with --emulator: against the local emulator)"
    )
    parser.add_argument("script", type=Path, help="the Python file to run")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the script")
    parser.set_defaults(handler=run_script)


def run_script(args: argparse.Namespace, _config: GreyCloudConfig | None) -> int:
    """Run ``args.script`` as ``__main__``; its exit status is the command's.

    As ``python SCRIPT`` does, the script's directory comes first on ``sys.path``
    (so modules beside it import) and ``sys.argv`` is the script and its arguments.
    """
    script: Path = args.script
    if not script.is_file():
        raise ValueError(f"{script} is not a file: give the path of a Python script.")
    saved, saved_path = sys.argv, list(sys.path)
    sys.argv = [str(script), *args.args]
    sys.path.insert(0, str(script.resolve().parent))
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exit_:
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    finally:
        sys.argv = saved
        sys.path[:] = saved_path
    return 0
