"""The editor's documents as the features read and edit them.

Reading an open (or on-disk) document, a range of it in UTF-16 columns (how LSP
clients count), and applying one ``workspace/applyEdit``. Used by generation and
code actions; imports nothing of the server beyond its type.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from greycloud_lsp.common.lsp_text import LineIndex

if TYPE_CHECKING:
    from greycloud_lsp.common.payloads import GenerateArgs
    from greycloud_lsp.language_server import GreyCloudLanguageServer

log = logging.getLogger(__name__)


def text_in_range(text: str, rng: types.Range) -> str:
    """The text inside ``rng`` (UTF-16 columns, like the client counts them)."""
    index = LineIndex(text)
    begin = index.offset(rng.start.line, rng.start.character)
    end = index.offset(rng.end.line, rng.end.character)
    return text[begin:end]


def to_range(arg: Any) -> types.Range:
    """An LSP ``Range`` from any object with ``start``/``end`` line and character."""
    return types.Range(
        start=types.Position(line=arg.start.line, character=arg.start.character),
        end=types.Position(line=arg.end.line, character=arg.end.character),
    )


def document_end(text: str) -> types.Position:
    """The position after the last character (UTF-16 columns)."""
    line, character = LineIndex(text).end()
    return types.Position(line=line, character=character)


def read_document(ls: GreyCloudLanguageServer, uri: str, command: str) -> str:
    """The text of ``uri`` as the editor has it (open) or on disk; ``InvalidParams`` if neither."""
    try:
        return ls.workspace.get_text_document(uri).source
    except (OSError, ValueError) as exc:
        raise JsonRpcInvalidParams(
            f"{command}: textDocument.uri: cannot read {uri}: {exc}"
        ) from None


async def apply_edit(
    ls: GreyCloudLanguageServer,
    request: GenerateArgs,
    text: str,
    label: str = "Gemini",
    *,
    command: str,
) -> bool:
    """One ``workspace/applyEdit``: replace the range (or document) or insert after it."""
    assert request.text_document is not None
    workspace = ls.client_capabilities.workspace
    if not (workspace and workspace.apply_edit):
        log.warning("the client cannot apply edits; returning the text only")
        return False
    uri = request.text_document.uri
    source = read_document(ls, uri, command)
    if request.range is not None:
        rng = to_range(request.range)
    else:
        rng = types.Range(start=types.Position(line=0, character=0), end=document_end(source))
    if request.insert == "after":
        rng = types.Range(start=rng.end, end=rng.end)
    edit = types.WorkspaceEdit(changes={uri: [types.TextEdit(range=rng, new_text=text)]})
    try:
        result = await ls.workspace_apply_edit_async(
            types.ApplyWorkspaceEditParams(edit=edit, label=label)
        )
    except Exception as exc:
        log.warning("workspace/applyEdit failed: %s", exc)
        return False
    if not result.applied:
        log.warning("client did not apply the edit: %s", result.failure_reason)
    return bool(result.applied)
