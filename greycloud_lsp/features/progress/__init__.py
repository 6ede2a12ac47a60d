"""Work-done progress that does nothing when the client cannot show it, and its cancel."""

from __future__ import annotations

from greycloud_lsp.language_server import GreyCloudLanguageServer

from . import reporter


def setup(server: GreyCloudLanguageServer) -> None:
    """Register the feature's state and handlers on one session."""
    reporter.setup(server)
