"""``--emulator``: the embedded Vertex AI emulator, for the standalone server and the daemon."""

from __future__ import annotations

import os
import tempfile
from typing import Any


def start_emulator() -> tuple[Any, dict[str, str]]:
    """Start the in-process emulator and point the environment at it.

    Returns the emulator and the variables that point a session at it.
    """
    from greycloud.emulator import EmulatorServer

    emulator = EmulatorServer().start()
    directory = tempfile.mkdtemp(prefix="greycloud-lsp-emulator-")
    variables = emulator.start_default_credentials(directory)
    os.environ.update(variables)
    for name in ("GREYCLOUD_USE_API_KEY", "GREYCLOUD_API_KEY", "GOOGLE_API_KEY"):
        os.environ.pop(name, None)
    return emulator, variables
