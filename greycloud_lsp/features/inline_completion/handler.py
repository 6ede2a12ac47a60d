"""``textDocument/inlineCompletion`` and the completion commands (docs/protocol.md).

A request goes: typed-ahead reuse (no model call) -> the document must be
sendable (`context.exclusion`) -> debounce -> one model call in the quota's
completion lane -> answer only if the document and the request are still
current (else an empty list: never a suggestion for a place the user left).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import Any

import attrs
from lsprotocol import types

from greycloud_lsp.common.field_validators import one_of
from greycloud_lsp.common.payload_conversion import dump, parse
from greycloud_lsp.features.inline_completion.context import (
    Cursor,
    Exclusions,
    build_context,
    split_at,
)
from greycloud_lsp.features.inline_completion.options import (
    completion_model,
    context_chars,
    language_enabled,
)
from greycloud_lsp.features.inline_completion.prompt import build_request, clean
from greycloud_lsp.features.inline_completion.scheduler import DocumentTurns, Superseded
from greycloud_lsp.features.inline_completion.stats import CompletionStats
from greycloud_lsp.features.inline_completion.typed_ahead import Suggestion, reuse
from greycloud_lsp.features.inline_completion.upstream import LaneClients, generate
from greycloud_lsp.language_server import Feature, GreyCloudLanguageServer

log = logging.getLogger(__name__)

ACCEPTED_COMMAND = "greycloud.completionAccepted"
STATS_COMMAND = "greycloud.completionStats"
ACCEPT_KINDS = ("all", "word", "line")
ACCEPTED_TITLE = "GreyCloud: completion accepted"
EMPTY = types.InlineCompletionList(items=[])


@attrs.define
class AcceptedArgs:
    """Argument of ``greycloud.completionAccepted`` (the item's command carries it)."""

    id: str
    kind: str = attrs.field(default="all", validator=one_of("kind", ACCEPT_KINDS))


class Completions(Feature):
    """One session's inline completions: per-document turns, last suggestions, stats."""

    def __init__(self, ls: GreyCloudLanguageServer) -> None:
        super().__init__(ls)
        self.stats = CompletionStats()
        self.turns: dict[str, DocumentTurns] = {}
        self.last: dict[str, Suggestion] = {}
        self.edited: dict[str, float] = {}
        self.lane = LaneClients(ls, on_admit=self._sent)
        self.exclusions = Exclusions(ls)
        self._ids = itertools.count(1)
        self._warming: asyncio.Task[None] | None = None

    def document_changed(self, uri: str) -> None:
        now = self.edited[uri] = time.monotonic()
        turns = self.turns.get(uri)
        if turns is None:
            self.warm_up()
            turns = self.turns[uri] = DocumentTurns()
        turns.edited(now)
        if turns.supersede():
            self.stats.cancelled += 1

    def warm_up(self) -> None:
        """Make the lane client and load its credentials before the first completion."""
        settings = self.ls.settings.completion
        if self._warming is not None or not settings.enabled:
            return

        async def warm() -> None:
            await self.ls.settings_ready()
            completion = self.ls.settings.completion
            try:
                client = self.lane.client(completion_model(completion), completion)
                await client.ensure_client()
            except Exception as exc:  # the first completion reports it
                log.debug("completion client not warmed up: %s", exc)

        self._warming = self.ls.spawn(warm(), name="warm up completions")

    def document_closed(self, uri: str) -> None:
        self.document_changed(uri)
        self.turns.pop(uri, None)
        self.last.pop(uri, None)
        self.edited.pop(uri, None)
        self.exclusions.forget(uri)

    async def close(self) -> None:
        for turns in self.turns.values():
            turns.supersede()
        await self.lane.aclose()

    # -- a request -------------------------------------------------------------------

    async def complete(self, params: types.InlineCompletionParams) -> types.InlineCompletionList:
        self.stats.requests += 1
        uri, position = params.text_document.uri, params.position
        if uri not in self.ls.workspace.text_documents:
            return EMPTY
        # The request is for the text as it is now: take its turn before any wait.
        document = self.ls.workspace.get_text_document(uri)
        version = document.version
        turns = self.turns.setdefault(uri, DocumentTurns())
        if turns.supersede():
            self.stats.cancelled += 1
        turn = turns.turn
        await self.ls.settings_ready()
        if not turns.current(turn) or document.version != version:
            return EMPTY
        settings = self.ls.settings.completion
        if not language_enabled(settings, document.language_id):
            return EMPTY
        cursor = split_at(document, position)
        last = self.last.get(uri)
        rest = reuse(last, cursor.prefix, cursor.suffix)
        if rest is not None and last is not None:
            self.stats.reused += 1
            return self._answer(position, rest, last.item_id, document.position_codec)
        if not await turns.debounce(turn, settings.debounce_ms / 1000):
            return EMPTY
        if document.version != version:
            return EMPTY
        reason = await self.exclusions.reason(uri, document.source)
        if reason is not None:
            log.debug("no completion for %s: %s", uri, reason)
            return EMPTY
        if not turns.current(turn) or document.version != version:
            return EMPTY  # edited while the rules were read: the check was of other text
        text = await self._ask_model(uri, document, cursor, turns, turn)
        if text is None or not turns.current(turn) or document.version != version:
            return EMPTY  # the user moved on while the model answered
        word = typed_word(cursor)
        restated = bool(word) and text.startswith(word) and len(text) > len(word)
        if restated:  # the model wrote the typed word again: the item replaces it
            text = text[len(word) :]
        item_id = str(next(self._ids))
        self.last[uri] = Suggestion(cursor.prefix, cursor.suffix, text, item_id)
        codec = document.position_codec
        return self._answer(position, text, item_id, codec, word if restated else "")

    async def _ask_model(
        self, uri: str, document: Any, cursor: Cursor, turns: DocumentTurns, turn: int
    ) -> str | None:
        from greycloud.quota_lane import LaneFullError

        settings = self.ls.settings.completion
        model = completion_model(settings)
        budgets = context_chars(settings)
        context = await build_context(
            self.ls, document, cursor, budgets, self.edited, self.exclusions
        )
        cached = self._fresh_cache(uri, model)
        contents, system = build_request(context, cached=cached is not None)
        try:
            client = self.lane.client(model, settings)
        except Exception as exc:
            log.warning("no completion: %s", exc)
            return None
        call = generate(
            client,
            contents,
            model=model,
            system_instruction=system,
            max_tokens=settings.max_tokens,
            cached_content=cached,
        )
        try:
            answer = await turns.call(turn, call)
        except Superseded:
            return None
        except LaneFullError:
            self.stats.dropped += 1
            return None
        except asyncio.CancelledError:
            self.stats.cancelled += 1
            raise
        except Exception as exc:
            log.warning("completion failed: %s", exc)
            return None
        return clean(answer, cursor)

    def _sent(self) -> None:
        self.stats.upstream += 1

    def _fresh_cache(self, uri: str, model: str) -> str | None:
        """The newest fresh workspace cache of the document's folder made for ``model``."""
        from greycloud_lsp.features.workspace_ask.ask import newest
        from greycloud_lsp.features.workspace_cache.folders import folder_for
        from greycloud_lsp.features.workspace_cache.registry import CacheRegistry

        folder = folder_for(self.ls, uri)
        cache = newest(self.ls, folder) if folder is not None else None
        if cache is None or cache.stale or cache.expired():
            return None
        if cache.model.rsplit("/", 1)[-1] != model.rsplit("/", 1)[-1]:
            return None
        self.ls.get_feature(CacheRegistry).mark_used(cache.name)
        return cache.name

    def _answer(
        self,
        position: types.Position,
        text: str,
        item_id: str,
        codec: Any,
        replaced: str = "",
    ) -> types.InlineCompletionList:
        """One item inserting ``text`` at ``position`` (replacing the typed ``replaced``)."""
        if not text:
            return EMPTY
        self.stats.shown += 1
        command = types.Command(
            title=ACCEPTED_TITLE,
            command=ACCEPTED_COMMAND,
            arguments=[{"id": item_id, "kind": "all"}],
        )
        # Always a range: without one a client picks its own (VS Code replaces the word
        # at the cursor up to the end of the line, which hides an insertion's ghost text).
        start = position.character - codec.client_num_units(replaced) if replaced else None
        item = types.InlineCompletionItem(
            insert_text=replaced + text,
            command=command,
            range=types.Range(
                types.Position(position.line, position.character if start is None else start),
                position,
            ),
        )
        return types.InlineCompletionList(items=[item])

    def accepted(self, args: AcceptedArgs) -> None:
        self.stats.accepted += 1
        log.debug("completion %s accepted (%s)", args.id, args.kind)


def typed_word(cursor: Cursor) -> str:
    """The identifier being typed right before the cursor ('' if none)."""
    line = cursor.line_prefix
    end = len(line)
    start = end
    while start > 0 and (line[start - 1].isalnum() or line[start - 1] == "_"):
        start -= 1
    return line[start:end]


async def inline_completion(
    ls: GreyCloudLanguageServer, params: types.InlineCompletionParams
) -> types.InlineCompletionList:
    """``textDocument/inlineCompletion`` (wire contract: docs/protocol.md)."""
    return await ls.get_feature(Completions).complete(params)


def completion_accepted_command(ls: GreyCloudLanguageServer, *args: Any) -> Any:
    """``greycloud.completionAccepted`` ``{id, kind}``: count an accepted suggestion."""
    ls.get_feature(Completions).accepted(parse(AcceptedArgs, list(args), ACCEPTED_COMMAND))
    return None


def completion_stats_command(ls: GreyCloudLanguageServer, *args: Any) -> Any:
    """``greycloud.completionStats``: the session's counts."""
    del args
    return dump(ls.get_feature(Completions).stats)


def setup(server: GreyCloudLanguageServer) -> None:
    server.add_feature(Completions(server))
    server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())(
        inline_completion
    )
    server.command(ACCEPTED_COMMAND)(completion_accepted_command)
    server.command(STATS_COMMAND)(completion_stats_command)
