"""``greycloud.runCodeAction``: run one listed action.

It streams like ``greycloud.generate`` (the same machinery,
:func:`~greycloud_lsp.features.generation.generate_command.run_generation`) and then
applies ONE ``workspace/applyEdit`` (edit actions) or returns the answer (prose
actions: Explain, Ask the workspace, templates with ``insert: "none"``), also shown with
``window/showMessage`` unless the client chose the ``workDoneToken`` (then it streams
it). A client that chose no token gets ``{started: true, ...}`` at once and the rest
arrives by those same messages (see :mod:`~greycloud_lsp.features.generation.background`).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path, PurePath
from typing import Any

import attrs
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from greycloud_lsp.common.document_edits import apply_edit, read_document, text_in_range, to_range
from greycloud_lsp.common.payload_conversion import dump, parse
from greycloud_lsp.common.payloads import GenerateArgs
from greycloud_lsp.features.code_actions.actions import (
    BY_ID,
    RUN_COMMAND,
    BuiltIn,
    RunCodeActionArgs,
)
from greycloud_lsp.features.generation import background
from greycloud_lsp.features.generation.generate_command import run_generation
from greycloud_lsp.language_server import GreyCloudLanguageServer
from greycloud_lsp.settings import CodeActionTemplate

log = logging.getLogger(__name__)

INLINE_LIMIT_TOKENS = 1_048_576
"""Input tokens every current Gemini model accepts: files up to this go inline."""
ASK_INLINE = "Ask with the files inline"


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
    template = _template(ls, request.id)
    read_document(ls, request.text_document.uri, RUN_COMMAND)  # fail now on a bad uri
    token = background.client_token()
    # A client that chose a progress token follows the stream: it shows prose answers itself.
    client_streams = token is not None
    if not background.answers_at_once(request.wait):
        return await _run(ls, request, template, client_streams=client_streams)
    token = background.new_token() if token is None else token
    work = _run(ls, request, template, client_streams=client_streams, server_token=token)
    return background.start(ls, RUN_COMMAND, work, token, id=request.id)


async def _run(
    ls: GreyCloudLanguageServer,
    request: RunCodeActionArgs,
    template: BuiltIn | CodeActionTemplate,
    *,
    client_streams: bool,
    server_token: str | int | None = None,
) -> dict[str, Any]:
    uri = request.text_document.uri
    source = read_document(ls, uri, RUN_COMMAND)
    selection = text_in_range(source, to_range(request.range))
    try:
        language = ls.workspace.get_text_document(uri).language_id or ""
    except Exception:
        language = ""
    problems = "\n".join(
        f"- line {d.range.start.line + 1 if d.range else '?'}: {d.message}"
        for d in request.diagnostics
    )
    prompt = fill(
        template.prompt,
        selection=selection,
        language=language or "source",
        file=PurePath(uri).name,
        diagnostics=problems or "- (none given)",
    )
    from google.genai import types as gtypes

    workspace = isinstance(template, BuiltIn) and template.workspace
    inline = await _workspace_context(ls, uri) if workspace else None
    parts = [gtypes.Part.from_text(text=prompt)]
    if inline is not None:  # the workspace is too small for a cache: its files go along
        parts[0] = gtypes.Part.from_text(
            text=prompt.replace("the cached workspace files", "the workspace files above")
        )
        parts = [*inline, *parts]
    generate = GenerateArgs(
        prompt=prompt,
        text_document=request.text_document,
        range=request.range,
        insert="none",
        cached_content="workspace" if workspace and inline is None else None,
    )
    title = template.title.removeprefix("Gemini: ")
    label = f"Gemini: {title}"
    result, _ = await run_generation(
        ls,
        generate,
        contents=[gtypes.Content(role="user", parts=parts)],
        command=RUN_COMMAND,
        label=label,
        server_token=server_token,
    )
    applied = None
    if not result.cancelled and template.insert != "none":
        result.text = strip_fences(result.text)
        edit = attrs.evolve(generate, insert=template.insert)
        applied = await apply_edit(ls, edit, result.text, label, command=RUN_COMMAND)
        if not applied and server_token is not None:
            background.edit_not_applied(ls, label)
    elif not result.cancelled and not client_streams:
        ls.window_show_message(
            types.ShowMessageParams(type=types.MessageType.Info, message=result.text)
        )
    return {**dump(result), "applied": applied, "id": request.id}


async def _workspace_context(ls: GreyCloudLanguageServer, uri: str) -> list[Any] | None:
    """Make sure *Ask the workspace* can answer: None to use the folder's cache (offering to
    create it first), or the files' parts to send inline when the folder is below the
    model's cache minimum. Raises InvalidParams when the person says no."""
    from greycloud_lsp.common.payloads import CacheWorkspaceArgs
    from greycloud_lsp.features.workspace_ask.ask import newest
    from greycloud_lsp.features.workspace_cache.commands import cache_workspace_command
    from greycloud_lsp.features.workspace_cache.folders import folder_for
    from greycloud_lsp.features.workspace_cache.plan import plan_with_contents

    folder = folder_for(ls, uri)
    if folder is None or newest(ls, folder) is not None:
        return None
    plan, contents = await plan_with_contents(ls, CacheWorkspaceArgs(), Path(folder))
    name = Path(folder).name
    count = len(plan.files)
    if plan.cacheable:
        create = f"Cache {count} files"
        message = (
            f"GreyCloud: no workspace cache of {name} yet. Caching {count} files "
            f"({plan.tokens} tokens) costs about ${plan.storage_cost_per_hour:.4f}/hour of "
            f"storage ({plan.model}). Create it?"
        )
        if await _ask(ls, message, create) != create:
            raise JsonRpcInvalidParams(
                f"{RUN_COMMAND}: no workspace cache of {folder}: accept the offer to create "
                "one, or run the command greycloud.cacheWorkspace first"
            )
        await cache_workspace_command(ls, {"folder": folder})
        return None
    minimum = plan.minimum_tokens or 0
    too_small = (
        f"{name} has {plan.tokens} tokens in {count} files, below the {minimum} tokens "
        f"{plan.model} needs for a cache ({minimum - plan.tokens} more needed)"
    )
    if plan.tokens > INLINE_LIMIT_TOKENS:  # only with a cache.minTokens above the limit
        raise JsonRpcInvalidParams(
            f"{RUN_COMMAND}: {too_small}, and too many to send with each question; "
            "include more files (cache.include) or lower cache.minTokens"
        )
    message = (
        f"GreyCloud: {too_small}. Ask without a cache instead, sending the {count} files "
        f"with the question (about {plan.tokens} input tokens each time)?"
    )
    if await _ask(ls, message, ASK_INLINE) != ASK_INLINE:
        raise JsonRpcInvalidParams(
            f"{RUN_COMMAND}: {too_small}; accept asking with the files inline, or include "
            "more files (cache.include) to reach the minimum"
        )
    return [part for content in contents for part in content.parts]


async def _ask(ls: GreyCloudLanguageServer, message: str, accept: str) -> str | None:
    """``window/showMessageRequest`` with ``accept`` and Cancel; the title chosen, or None."""
    try:
        answer = await ls.window_show_message_request_async(
            types.ShowMessageRequestParams(
                type=types.MessageType.Info,
                message=message,
                actions=[types.MessageActionItem(title=accept), types.MessageActionItem("Cancel")],
            )
        )
    except Exception as exc:
        log.debug("showMessageRequest failed: %s", exc)
        return None
    return answer.title if answer is not None else None
