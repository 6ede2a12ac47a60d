"""Code actions: Gemini on the selection (or the line) from any LSP editor, no plugin needed.

Listing (``textDocument/codeAction``) and resolving (``codeAction/resolve``) make no API
call: an action only carries the command ``greycloud.runCodeAction``, which
:mod:`.running` runs.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import attrs
from lsprotocol import types

from greycloud_lsp.common.lsp_text import column_in_line
from greycloud_lsp.common.payloads import RangeArg, TextDocumentRef
from greycloud_lsp.language_server import GreyCloudLanguageServer

log = logging.getLogger(__name__)

RUN_COMMAND = "greycloud.runCodeAction"
ONLY_CODE = (
    "Answer with only the resulting code for the selection, without Markdown fences or "
    "explanations."
)


@attrs.define(frozen=True)
class BuiltIn:
    """A built-in action: id, title, LSP kind, prompt template and insert mode."""

    id: str
    title: str
    kind: str
    prompt: str
    insert: str
    workspace: bool = False


BUILT_INS = (
    BuiltIn(
        "explain",
        "Gemini: Explain",
        types.CodeActionKind.Empty,
        "Explain what this {language} code from {file} does, briefly.\n\n{selection}",
        "none",
    ),
    BuiltIn(
        "improve",
        "Gemini: Improve / rewrite",
        types.CodeActionKind.RefactorRewrite,
        "Improve this {language} code from {file}: clearer and more robust, same behaviour. "
        f"{ONLY_CODE}\n\n{{selection}}",
        "replace",
    ),
    BuiltIn(
        "document",
        "Gemini: Add documentation",
        types.CodeActionKind.RefactorRewrite,
        "Add documentation (docstrings or comments, as is usual in {language}) to this code "
        f"from {{file}}. {ONLY_CODE}\n\n{{selection}}",
        "replace",
    ),
    BuiltIn(
        "fix",
        "Gemini: Fix the diagnostics here",
        types.CodeActionKind.QuickFix,
        "Fix these problems in this {language} code from {file}:\n{diagnostics}\n"
        f"{ONLY_CODE}\n\n{{selection}}",
        "replace",
    ),
    BuiltIn(
        "ask",
        "Gemini: Ask the workspace about this",
        types.CodeActionKind.Empty,
        "Using the cached workspace files, explain how this {language} code from {file} fits "
        "in: what uses it, what it relies on, and anything that looks wrong.\n\n{selection}",
        "none",
        workspace=True,
    ),
)
BY_ID = {action.id: action for action in BUILT_INS}


@attrs.define
class DiagnosticArg:
    """The part of an LSP diagnostic a prompt needs."""

    message: str
    range: RangeArg | None = None
    source: str | None = None


@attrs.define
class RunCodeActionArgs:
    """Argument of ``greycloud.runCodeAction`` (also each action's ``data``)."""

    id: str
    text_document: TextDocumentRef
    range: RangeArg
    diagnostics: list[DiagnosticArg] = attrs.field(factory=list)
    wait: bool | None = None
    """Answer only when done (default: when the client chose a progress token) or at once."""


def setup(server: GreyCloudLanguageServer) -> None:
    options = types.CodeActionOptions(
        code_action_kinds=[
            types.CodeActionKind.QuickFix,
            types.CodeActionKind.RefactorRewrite,
        ],
        resolve_provider=True,
    )
    server.feature(types.TEXT_DOCUMENT_CODE_ACTION, options)(list_code_actions)
    server.feature(types.CODE_ACTION_RESOLVE)(resolve_code_action)


# -- listing and resolving (no API call) -------------------------------------------------


def _line_range(ls: GreyCloudLanguageServer, uri: str, rng: types.Range) -> types.Range:
    """The selection, or the cursor's whole line when nothing is selected."""
    if rng.start != rng.end:
        return rng
    try:
        lines = ls.workspace.get_text_document(uri).lines
    except Exception:
        lines = []
    line = lines[rng.start.line] if rng.start.line < len(lines) else ""
    width = column_in_line(line, len(line))  # UTF-16 units of the line's content
    return types.Range(
        start=types.Position(line=rng.start.line, character=0),
        end=types.Position(line=rng.start.line, character=width),
    )


@functools.cache
def _converter() -> Any:
    from pygls.protocol import default_converter

    return default_converter()  # building one takes milliseconds: once per process


def _wire(value: Any) -> Any:
    return _converter().unstructure(value)


def _resolve_supported(ls: GreyCloudLanguageServer) -> bool:
    text = ls.client_capabilities.text_document
    code_action = text.code_action if text else None
    # Any resolveSupport means the client calls codeAction/resolve (VS Code lists only "edit").
    return bool(code_action and code_action.resolve_support is not None)


async def list_code_actions(
    ls: GreyCloudLanguageServer, params: types.CodeActionParams
) -> list[types.CodeAction]:
    """Every action for the range; ``fix`` only when the client sent diagnostics."""
    await ls.settings_ready()  # the user's templates
    uri = params.text_document.uri
    rng = _line_range(ls, uri, params.range)
    diagnostics = [
        {"message": d.message, "range": _wire(d.range), "source": d.source}
        for d in params.context.diagnostics
    ]
    only = params.context.only
    entries: list[tuple[str, str, str]] = [
        (a.id, a.title, a.kind) for a in BUILT_INS if a.id != "fix" or diagnostics
    ]
    for index, template in enumerate(ls.settings.code_actions):
        kind = types.CodeActionKind.Empty if template.insert == "none" else "refactor.rewrite"
        entries.append((f"user:{index}", f"Gemini: {template.title}", kind))
    actions = []
    resolve = _resolve_supported(ls)
    wire_range = _wire(rng)
    for action_id, title, kind in entries:
        if only and not any(kind == k or kind.startswith(f"{k}.") for k in only):
            continue
        data = {
            "id": action_id,
            "textDocument": {"uri": uri},
            "range": wire_range,
            "diagnostics": diagnostics if action_id == "fix" else [],
        }
        action = types.CodeAction(title=title, kind=kind or None, data=data)
        if action_id == "fix":
            action.diagnostics = list(params.context.diagnostics)
        if not resolve:
            action.command = _command(title, data)
        actions.append(action)
    return actions


def _command(title: str, data: Any) -> types.Command:
    return types.Command(title=title, command=RUN_COMMAND, arguments=[data])


def resolve_code_action(ls: GreyCloudLanguageServer, action: types.CodeAction) -> types.CodeAction:
    """Attach the command that runs the action (still no API call)."""
    from greycloud_lsp.common.payload_conversion import plain

    if action.command is None and action.data is not None:
        action.command = _command(action.title, plain(action.data))
    return action
