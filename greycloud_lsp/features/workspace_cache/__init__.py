"""Context caches of workspace files: which files, what they cost, their life and commands."""

from __future__ import annotations

from greycloud_lsp.language_server import GreyCloudLanguageServer

from . import commands, registry


def setup(server: GreyCloudLanguageServer) -> None:
    """Register the feature's state and handlers on one session."""
    registry.setup(server)
    commands.setup(server)
