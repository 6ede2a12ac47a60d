"""Open documents whose lines break where LSP says they do.

pygls' ``TextDocument.lines`` uses ``str.splitlines``, which also breaks at
``\\x0b \\x0c \\x1c-\\x1e \\x85 \\u2028 \\u2029``. LSP positions only count
``\\n``, ``\\r\\n`` and ``\\r``, so an incremental edit after a form feed (or a
Unicode line separator) would land on the wrong line. These classes split the
LSP way, keeping the fast ``splitlines`` path for the usual text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.workspace import TextDocument

from greycloud_lsp._pygls_compat import DocumentClassWorkspace, replace_workspace

_LSP_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")
_ASCII_EXTRA_BREAKS = "\x0b\x0c\x1c\x1d\x1e"
_OTHER_EXTRA_BREAKS = "\x85\u2028\u2029"


def has_extra_breaks(text: str) -> bool:
    """True if ``splitlines`` would break ``text`` somewhere LSP does not."""
    if any(char in text for char in _ASCII_EXTRA_BREAKS):
        return True
    return not text.isascii() and any(char in text for char in _OTHER_EXTRA_BREAKS)


def lsp_lines(text: str) -> list[str]:
    """``text`` split after ``\\n``, ``\\r\\n`` and ``\\r`` only, ends kept."""
    if not has_extra_breaks(text):
        return text.splitlines(True)
    return _LSP_LINE.findall(text)


class LspTextDocument(TextDocument):
    """A pygls document with LSP line semantics."""

    @property
    def lines(self) -> Sequence[str]:
        return tuple(lsp_lines(self.source))


class LspWorkspace(DocumentClassWorkspace):
    """A pygls workspace that creates :class:`LspTextDocument` objects."""

    document_class = LspTextDocument


def install(ls: LanguageServer, params: types.InitializeParams) -> None:
    """Swap pygls' fresh (still empty) workspace for an :class:`LspWorkspace`."""
    current = ls.workspace
    replace_workspace(
        ls,
        LspWorkspace(
            current.root_uri,
            types.TextDocumentSyncKind.Incremental,
            params.workspace_folders or [],
            current.position_encoding,
        ),
    )
