"""Code actions: Gemini on the selection (or the line) from any LSP editor, no plugin needed.

Listing (``textDocument/codeAction``) and resolving (``codeAction/resolve``) make no API
call: an action only carries the command ``greycloud.runCodeAction``. Running it streams
like ``greycloud.generate`` (the same machinery, :func:`generation.run_generation`) and then
applies ONE ``workspace/applyEdit`` (edit actions) or returns the answer (prose actions:
Explain, Ask the workspace, templates with ``insert: "none"``), also shown with
``window/showMessage`` unless the client chose the ``workDoneToken`` (then it streams it).
"""

from __future__ import annotations

import functools
import logging
import re
from pathlib import PurePath
from typing import Any

import attrs
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from greycloud_lsp.common.document_edits import apply_edit, read_document, text_in_range, to_range
from greycloud_lsp.common.lsp_text import column_in_line
from greycloud_lsp.common.payload_conversion import dump, parse
from greycloud_lsp.common.payloads import GenerateArgs, RangeArg, TextDocumentRef
from greycloud_lsp.features.generation.generate_command import run_generation
from greycloud_lsp.language_server import WORK_DONE_TOKEN, GreyCloudLanguageServer
from greycloud_lsp.settings import CodeActionTemplate

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
    server.command(RUN_COMMAND)(run_code_action_command)


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


# -- running ---------------------------------------------------------------------------------


def _template(ls: GreyCloudLanguageServer, action_id: str) -> BuiltIn | CodeActionTemplate:
    if action_id in BY_ID:
        return BY_ID[action_id]
    match = re.fullmatch(r"user:(\d+)", action_id)
    templates = ls.settings.code_actions
    if match and int(match.group(1)) < len(templates):
        return templates[int(match.group(1))]
    raise JsonRpcInvalidParams(
        f"{RUN_COMMAND}: id: unknown action {action_id!r}; list the code actions again "
        "(the codeActions setting may have changed)"
    )


def fill(template: str, *, selection: str, language: str, file: str, diagnostics: str) -> str:
    """Substitute the placeholders; the selection follows a prompt that does not place it."""
    text = (
        template.replace("{language}", language)
        .replace("{file}", file)
        .replace("{diagnostics}", diagnostics)
    )
    if "{selection}" in text:
        return text.replace("{selection}", selection)
    return f"{text}\n\n{selection}" if selection else text


def strip_fences(text: str) -> str:
    """Drop one Markdown fence around the whole answer (models add them despite being asked)."""
    match = re.fullmatch(r"\s*```[\w+-]*\n(.*?)\n?```\s*", text, flags=re.S)
    return match.group(1) if match else text


async def run_code_action_command(ls: GreyCloudLanguageServer, *args: Any) -> Any:
    """``greycloud.runCodeAction``: stream, then one edit (or show the prose answer)."""
    request = parse(RunCodeActionArgs, list(args), RUN_COMMAND)
    # A client that chose a progress token follows the stream: it shows prose answers itself.
    client_streams = WORK_DONE_TOKEN.get() is not None
    template = _template(ls, request.id)
    uri = request.text_document.uri
    source = read_document(ls, uri, RUN_COMMAND)
    rng = request.range
    selection = text_in_range(source, to_range(rng))
    try:
        language = ls.workspace.get_text_document(uri).language_id or ""
    except Exception:
        language = ""
    file = PurePath(uri).name
    problems = "\n".join(
        f"- line {d.range.start.line + 1 if d.range else '?'}: {d.message}"
        for d in request.diagnostics
    )
    prompt = fill(
        template.prompt,
        selection=selection,
        language=language or "source",
        file=file,
        diagnostics=problems or "- (none given)",
    )
    workspace = isinstance(template, BuiltIn) and template.workspace
    if workspace:
        await _ensure_workspace_cache(ls, uri)
    generate = GenerateArgs(
        prompt=prompt,
        text_document=request.text_document,
        range=request.range,
        insert="none",
        cached_content="workspace" if workspace else None,
    )
    from google.genai import types as gtypes

    contents = [gtypes.Content(role="user", parts=[gtypes.Part.from_text(text=prompt)])]
    title = template.title.removeprefix("Gemini: ")
    result, _ = await run_generation(
        ls, generate, contents=contents, command=RUN_COMMAND, label=f"Gemini: {title}"
    )
    applied = None
    if not result.cancelled and template.insert != "none":
        result.text = strip_fences(result.text)
        edit = attrs.evolve(generate, insert=template.insert)
        applied = await apply_edit(ls, edit, result.text, f"Gemini: {title}", command=RUN_COMMAND)
    elif not result.cancelled and not client_streams:
        ls.window_show_message(
            types.ShowMessageParams(type=types.MessageType.Info, message=result.text)
        )
    return {**dump(result), "applied": applied, "id": request.id}


async def _ensure_workspace_cache(ls: GreyCloudLanguageServer, uri: str) -> None:
    """No live cache of this folder: offer to create one (``window/showMessageRequest``)."""
    from greycloud_lsp.features.workspace_ask.ask import newest
    from greycloud_lsp.features.workspace_cache.commands import cache_workspace_command
    from greycloud_lsp.features.workspace_cache.folders import folder_for
    from greycloud_lsp.features.workspace_cache.plan import plan_cache

    folder = folder_for(ls, uri)
    if folder is None or newest(ls, folder) is not None:
        return
    from pathlib import Path

    from greycloud_lsp.common.payloads import CacheWorkspaceArgs

    plan = await plan_cache(ls, CacheWorkspaceArgs(), Path(folder))
    create = f"Cache {len(plan.files)} files"
    message = (
        f"GreyCloud: no workspace cache of {Path(folder).name} yet. Caching {len(plan.files)} "
        f"files ({plan.tokens} tokens) costs about ${plan.storage_cost_per_hour:.4f}/hour of "
        f"storage ({plan.model}). Create it?"
    )
    try:
        answer = await ls.window_show_message_request_async(
            types.ShowMessageRequestParams(
                type=types.MessageType.Info,
                message=message,
                actions=[types.MessageActionItem(title=create), types.MessageActionItem("Cancel")],
            )
        )
    except Exception as exc:
        log.debug("showMessageRequest failed: %s", exc)
        answer = None
    if answer is None or answer.title != create:
        raise JsonRpcInvalidParams(
            f"{RUN_COMMAND}: no workspace cache of {folder}: accept the offer to create one, or "
            "run the command greycloud.cacheWorkspace first"
        )
    await cache_workspace_command(ls, {"folder": folder})
