"""Ask the Workspace: which cache a question uses, what a new one costs, what it saved."""

from __future__ import annotations

from greycloud_lsp.language_server import GreyCloudLanguageServer

from . import ask


def setup(server: GreyCloudLanguageServer) -> None:
    """Register the feature's state and handlers on one session."""
    ask.setup(server)
