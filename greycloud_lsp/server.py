"""Assemble a GreyCloud language server: a session plus every feature module.

Each package in `FEATURE_MODULES` (``greycloud_lsp/features/<name>/``) has
``setup(server)``, which adds its `Feature` state and registers its LSP handlers
(esbonio style). Features import `greycloud_lsp.language_server`, never this
module, so nothing imports in a circle. To add a feature, add its folder under
``features/`` and its name here.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from greycloud_lsp.language_server import CONFIG_SECTION, Feature, GreyCloudLanguageServer
from greycloud_lsp.shared_state import SharedState

__all__ = [
    "CONFIG_SECTION",
    "FEATURE_MODULES",
    "Feature",
    "GreyCloudLanguageServer",
    "SharedState",
    "create_server",
]

FEATURE_MODULES: tuple[str, ...] = (
    "greycloud_lsp.features.lifecycle",
    "greycloud_lsp.features.progress",
    "greycloud_lsp.features.token_counts",
    "greycloud_lsp.features.workspace_cache",
    "greycloud_lsp.features.generation",
    "greycloud_lsp.features.workspace_ask",
    "greycloud_lsp.features.code_actions",
    "greycloud_lsp.features.inline_completion",
)


def create_server(
    shared: SharedState | None = None, *, environ: Mapping[str, str] | None = None
) -> GreyCloudLanguageServer:
    """One editor session with every feature set up.

    ``shared=None``: the server makes and owns its own `SharedState` (and closes
    it on exit). ``environ``: the session's environment (default ``os.environ``).
    """
    server = GreyCloudLanguageServer(shared, environ=environ)
    for name in FEATURE_MODULES:
        importlib.import_module(name).setup(server)
    return server
