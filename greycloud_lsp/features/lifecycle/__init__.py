"""initialize / initialized / settings / shutdown / exit, and the parent watchdog."""

from __future__ import annotations

from greycloud_lsp.language_server import GreyCloudLanguageServer

from . import handlers


def setup(server: GreyCloudLanguageServer) -> None:
    """Register the feature's state and handlers on one session."""
    handlers.setup(server)
