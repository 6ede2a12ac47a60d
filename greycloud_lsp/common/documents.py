"""Open documents whose lines break, and columns count, where LSP says they do.

pygls' ``TextDocument.lines`` uses ``str.splitlines``, which also breaks at
``\\x0b \\x0c \\x1c-\\x1e \\x85 \\u2028 \\u2029``, and its incremental change
rewrites the whole document and lets a column past a line's end eat the line
break. `LspTextDocument` keeps its text in a `LineIndex` and applies changes
with the rules of ``common/lsp_text.py``, the same code the forwarder's
document mirror uses, so the daemon and the forwarder always agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.workspace import TextDocument

from greycloud_lsp._pygls_compat import DocumentClassWorkspace, replace_workspace
from greycloud_lsp.common.lsp_text import LineIndex, has_extra_breaks, lsp_lines

__all__ = ["LspTextDocument", "LspWorkspace", "has_extra_breaks", "install", "lsp_lines"]


class LspTextDocument(TextDocument):
    """A pygls document with LSP line semantics and incremental changes in `LineIndex`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._index: LineIndex | None = None  # built at the first change

    @property
    def source(self) -> str:
        if self._index is not None:
            return self._index.text
        return super().source

    @property
    def lines(self) -> Sequence[str]:
        if self._index is not None:
            return tuple(self._index.lines)
        return tuple(lsp_lines(self.source))

    def apply_change(self, change: types.TextDocumentContentChangeEvent) -> None:
        if self._index is None:
            self._index = LineIndex(super().source)
        if isinstance(change, types.TextDocumentContentChangePartial):
            start, end = change.range.start, change.range.end
            self._index.replace(
                (start.line, start.character),
                (end.line, end.character),
                change.text,
                _encoding(self.position_codec.encoding),
            )
        else:
            self._index.set_text(change.text)


def _encoding(kind: Any) -> str:
    """``"utf-16"`` etc. from a ``PositionEncodingKind`` (or a plain string, or None)."""
    return str(getattr(kind, "value", kind) or "utf-16")


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
