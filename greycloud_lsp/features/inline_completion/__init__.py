"""Inline completions: ghost text as you type, from the workspace, inside the quota.

``textDocument/inlineCompletion`` with per-document debounce, one model call
per document at a time (cancelled when the text moves on), typed-ahead reuse,
and a lane of ``completion.quotaShare`` of the quota (`greycloud.quota_lane`).
"""

from __future__ import annotations

from greycloud_lsp.language_server import GreyCloudLanguageServer

from . import handler


def setup(server: GreyCloudLanguageServer) -> None:
    """Register the feature's state and handlers on one session."""
    handler.setup(server)
