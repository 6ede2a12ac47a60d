"""``--emulator``: the embedded Vertex AI emulator, for the standalone server and the daemon."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from typing import Any

from greycloud_lsp.shared_state import API_KEY_VARIABLES

_credential_directories: list[str] = []


def start_emulator() -> tuple[Any, dict[str, str]]:
    """Start the in-process emulator and point the environment at it.

    Returns the emulator and the variables that point a session at it. Its
    credentials live in a private temporary directory removed when the process
    ends (`remove_credentials`).
    """
    from greycloud.emulator import EmulatorServer

    emulator = EmulatorServer().start()
    directory = tempfile.mkdtemp(prefix="greycloud-lsp-emulator-")
    if not _credential_directories:
        atexit.register(remove_credentials)
    _credential_directories.append(directory)
    variables = emulator.start_default_credentials(directory)
    os.environ.update(variables)
    for name in API_KEY_VARIABLES:  # the emulator takes OAuth: no API-key mode
        os.environ.pop(name, None)
    return emulator, variables


def remove_credentials() -> None:
    """Delete the emulator credentials this process wrote (also on ``os._exit`` paths)."""
    while _credential_directories:
        shutil.rmtree(_credential_directories.pop(), ignore_errors=True)
