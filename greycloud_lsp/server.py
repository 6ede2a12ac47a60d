"""Assemble a GreyCloud language server: a session plus every feature module.

Each module in `FEATURE_MODULES` has ``setup(server)``, which adds its
`Feature` state and registers its LSP handlers (esbonio style). Feature modules
import `greycloud_lsp.session`, never this module, so nothing imports in a
circle. To add a feature, write its module and add its name here.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from .session import CONFIG_SECTION, Feature, GreyCloudLanguageServer
from .shared import SharedState

__all__ = [
    "CONFIG_SECTION",
    "FEATURE_MODULES",
    "Feature",
    "GreyCloudLanguageServer",
    "SharedState",
    "create_server",
]

FEATURE_MODULES: tuple[str, ...] = (
    "greycloud_lsp.lifecycle",
    "greycloud_lsp.progress",
    "greycloud_lsp.tokens",
    "greycloud_lsp.workspace_cache",
    "greycloud_lsp.cache_commands",
    "greycloud_lsp.generation",
    "greycloud_lsp.workspace_ask",
    "greycloud_lsp.code_actions",
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
