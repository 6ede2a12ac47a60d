"""``greycloud.generate``: streamed generation with progress, chunks and cancel."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from greycloud_lsp.common.document_edits import apply_edit, read_document, text_in_range, to_range
from greycloud_lsp.common.errors import backend_error
from greycloud_lsp.common.payload_conversion import dump, parse
from greycloud_lsp.common.payloads import GenerateArgs, GenerateResult, GenerationChunk, Usage
from greycloud_lsp.common.text_metrics import estimate
from greycloud_lsp.features.generation.background import (
    answers_at_once,
    client_token,
    edit_not_applied,
    new_token,
    start,
)
from greycloud_lsp.features.progress.reporter import ProgressReporter
from greycloud_lsp.features.workspace_cache.registry import CacheRegistry
from greycloud_lsp.language_server import Feature, GreyCloudLanguageServer

if TYPE_CHECKING:
    from greycloud.streaming import AsyncTextStream


log = logging.getLogger(__name__)

COMMAND = "greycloud.generate"
CHUNK_METHOD = "greycloud/generationChunk"
CLOSE_TIMEOUT = 0.15  # the upstream stream must stop within 200 ms of a cancel


class GenerationRun:
    """One running generation: its chunks so far and the task reading the stream."""

    def __init__(self, token: str):
        self.token = token
        self.chunks: list[str] = []
        self.task: asyncio.Task[None] | None = None
        self.stream: AsyncTextStream | None = None
        self.cancelled_by_progress = False

    @property
    def text(self) -> str:
        return "".join(self.chunks)

    def cancel(self, by_progress: bool = False) -> None:
        self.cancelled_by_progress = self.cancelled_by_progress or by_progress
        if self.task is not None and not self.task.done():
            self.task.cancel()


class Generations(Feature):
    """The session's running generations, by progress token."""

    def __init__(self, ls: GreyCloudLanguageServer) -> None:
        super().__init__(ls)
        self.runs: dict[str, GenerationRun] = {}

    async def close(self) -> None:
        for run in list(self.runs.values()):
            run.cancel()


def setup(server: GreyCloudLanguageServer) -> None:
    server.add_feature(Generations(server))
    server.command(COMMAND)(generate_command)


def build_contents(ls: GreyCloudLanguageServer, args: GenerateArgs) -> list[Any]:
    """The user turn: the prompt, then the selected range or whole document."""
    from google.genai import types as gtypes

    parts = [gtypes.Part.from_text(text=args.prompt)]
    if args.text_document is not None and (args.range is not None or args.include_document):
        source = read_document(ls, args.text_document.uri, COMMAND)
        context = text_in_range(source, to_range(args.range)) if args.range else source
        if context:
            parts.append(gtypes.Part.from_text(text=context))
    return [gtypes.Content(role="user", parts=parts)]


def _usage(stream: Any) -> Usage:
    meta = getattr(stream, "usage_metadata", None)
    if meta is None:
        return Usage()
    prompt = meta.prompt_token_count or 0
    output = meta.candidates_token_count or 0
    cached = meta.cached_content_token_count or 0
    total = meta.total_token_count or prompt + output
    return Usage(prompt, output, cached, total)


async def generate_command(ls: GreyCloudLanguageServer, *args: Any) -> Any:
    """Stream a generation to the client (wire contract: docs/protocol.md, section 7.1).

    With an ``insert`` mode and no client-chosen progress token it answers at once and
    the edit follows as ``workspace/applyEdit`` (see :mod:`.background`).
    """
    request = parse(GenerateArgs, list(args), COMMAND)
    if request.insert != "none" and answers_at_once(request.wait, request.work_done_token):
        await check_request(ls, request, COMMAND)  # a bad request still fails the request
        token = client_token(request.work_done_token)
        token = new_token() if token is None else token
        return start(ls, COMMAND, _generate_later(ls, request, token), token)
    result, _applied = await run_generation(ls, request)
    return dump(result)


async def _generate_later(ls: GreyCloudLanguageServer, request: GenerateArgs, token: Any) -> None:
    result, applied = await run_generation(ls, request, server_token=token)
    if applied is False and not result.cancelled:
        edit_not_applied(ls, "Gemini")


async def check_request(ls: GreyCloudLanguageServer, request: GenerateArgs, command: str) -> None:
    """Fail now (InvalidParams) on what `run_generation` would refuse: a document that cannot
    be read, ``cachedContent: "workspace"`` without a cache."""
    await ls.settings_ready()
    if request.text_document is not None:
        read_document(ls, request.text_document.uri, command)
    if request.cached_content == "workspace":
        from greycloud_lsp.features.workspace_ask.ask import resolve_workspace_cache

        uri = request.text_document.uri if request.text_document else None
        resolve_workspace_cache(ls, uri, command)


async def run_generation(
    ls: GreyCloudLanguageServer,
    request: GenerateArgs,
    *,
    contents: list[Any] | None = None,
    command: str = COMMAND,
    label: str = "Gemini",
    server_token: str | int | None = None,
) -> tuple[GenerateResult, bool | None]:
    """Run one streamed generation; apply its edit if ``request.insert`` asks for one.

    ``contents`` replaces the user turn built from the request (code actions build
    their own). ``server_token``: the progress token when the client chose none (the
    command already answered with it). Returns the result and whether the edit was
    applied (None: no edit).
    """
    token = client_token(request.work_done_token)  # before any await
    chosen_by_client = token is not None
    if token is None:
        token = server_token
    await ls.settings_ready()
    if request.insert != "none" and request.text_document is not None:
        read_document(ls, request.text_document.uri, command)  # fail early on a bad uri
    caches = ls.get_feature(CacheRegistry)
    cache_stale = False
    if request.cached_content == "workspace":
        from greycloud_lsp.features.workspace_ask.ask import resolve_workspace_cache

        uri = request.text_document.uri if request.text_document else None
        owned = resolve_workspace_cache(ls, uri, command)
        cached_content: str | None = owned.name
        cache_stale = owned.stale
    else:
        cached_content = request.cached_content
        named = ls.shared.caches.get(cached_content) if cached_content else None
        cache_stale = bool(named and named.stale)
    if contents is None:
        contents = build_contents(ls, request)
    model = request.model or ls.model
    try:
        client = ls.get_client(request.model)
    except Exception as exc:
        raise backend_error(exc, command) from exc

    runs = ls.get_feature(Generations).runs
    progress = ProgressReporter(
        ls,
        label,
        on_cancel=lambda: run.cancel(by_progress=True),
        token=token,
        chosen_by_client=chosen_by_client,
    )
    run = GenerationRun(str(progress.token))
    runs[run.token] = run
    try:
        # Create the progress token while the request goes upstream, not before it.
        begun = asyncio.ensure_future(progress.begin(f"Generating with {model}…"))

        async def consume() -> None:
            stream = client.generate_with_retry(
                contents,
                streaming=True,
                model=model,
                system_instruction=None if cached_content else request.system_instruction,
                temperature=request.temperature,
                max_output_tokens=request.max_output_tokens,
                cached_content=cached_content,
            )
            run.stream = stream
            produced = 0
            try:
                async for text in stream:
                    if not text:
                        continue
                    if not begun.done():
                        await begun
                    ls.notify(CHUNK_METHOD, GenerationChunk(run.token, len(run.chunks), text))
                    run.chunks.append(text)
                    produced += estimate(text)
                    progress.report(f"{produced} tokens")
            finally:
                await _close(stream)

        run.task = asyncio.get_running_loop().create_task(consume(), name=f"generate {run.token}")
        msg_id = ls.on_cancel_request(run.cancel)
        caches.mark_used(cached_content)
        try:
            await asyncio.wait({run.task})
        except asyncio.CancelledError:  # the server is shutting down
            begun.cancel()
            run.cancel()
            await asyncio.wait({run.task}, timeout=1.0)
            progress.end("Cancelled")
            raise
        finally:
            ls.cancel_hooks.pop(msg_id, None)
        if not begun.done():
            await begun
        cancelled = run.task.cancelled()
        if not cancelled and (exc := run.task.exception()) is not None:
            partial = getattr(exc, "partial_text", None)
            progress.end(f"Failed: {exc}")
            error = backend_error(exc, command)
            if partial:  # keep what the error already says (e.g. the quota that ran out)
                error.data = {
                    **(error.data if isinstance(error.data, dict) else {}),
                    "partialText": partial,
                }
            raise error
        progress.end("Cancelled" if cancelled else "Done")
        stream = run.stream
        result = GenerateResult(
            text=run.text,
            model=getattr(stream, "model_version", None) or model,
            finish_reason=None if cancelled else getattr(stream, "finish_reason", None),
            cancelled=cancelled,
            usage=_usage(stream),
            cached_content=cached_content,
            cache_stale=cache_stale,
        )
        if cached_content:
            from greycloud_lsp.features.workspace_ask.ask import question_saving

            result.cost = question_saving(model, result.usage)
        applied = None
        if not cancelled and request.insert != "none" and request.text_document is not None:
            applied = await apply_edit(ls, request, result.text, label, command=command)
        return result, applied
    finally:
        runs.pop(run.token, None)
        ls.progress_tokens.pop(run.token, None)


async def _close(stream: Any) -> None:
    try:
        await asyncio.wait_for(asyncio.shield(stream.aclose()), CLOSE_TIMEOUT)
    except Exception as exc:  # includes TimeoutError: the library keeps closing in background
        log.debug("closing stream: %r", exc)
