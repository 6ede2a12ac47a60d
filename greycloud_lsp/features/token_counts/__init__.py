"""Live token counts for open documents (estimate at once, exact after a pause)."""

from __future__ import annotations

from greycloud_lsp.language_server import GreyCloudLanguageServer

from . import live_counts


def setup(server: GreyCloudLanguageServer) -> None:
    """Register the feature's state and handlers on one session."""
    live_counts.setup(server)
