"""``greycloud.generate``: streamed generation with progress, chunks and cancel."""

from __future__ import annotations

from greycloud_lsp.language_server import GreyCloudLanguageServer

from . import generate_command


def setup(server: GreyCloudLanguageServer) -> None:
    """Register the feature's state and handlers on one session."""
    generate_command.setup(server)
