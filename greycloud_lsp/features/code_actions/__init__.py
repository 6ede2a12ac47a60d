"""Code actions: Gemini on the selection from any LSP editor."""

from __future__ import annotations

from greycloud_lsp.language_server import GreyCloudLanguageServer

from . import actions


def setup(server: GreyCloudLanguageServer) -> None:
    """Register the feature's state and handlers on one session."""
    actions.setup(server)
