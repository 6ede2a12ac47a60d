"""Code actions: Gemini on the selection from any LSP editor."""

from __future__ import annotations

from greycloud_lsp.language_server import GreyCloudLanguageServer

from . import actions, running


def setup(server: GreyCloudLanguageServer) -> None:
    """Register the feature's state and handlers on one session."""
    actions.setup(server)
    server.command(actions.RUN_COMMAND)(running.run_code_action_command)
