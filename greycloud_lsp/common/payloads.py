"""Typed payloads: command arguments, results and custom notifications (attrs classes).

Their wire form (camelCase) and parsing are in :mod:`greycloud_lsp.common.payload_conversion`;
the validators that name a bad field, in :mod:`greycloud_lsp.common.field_validators`.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs

from greycloud.cache_names import validate_cache_name
from greycloud.rules import MAX_OUTPUT_TOKENS, NON_NEGATIVE, POSITIVE, TEMPERATURE
from greycloud_lsp.common.field_validators import non_empty, one_of, within

INSERT_MODES = ("none", "replace", "after")


# -- shared shapes -------------------------------------------------------------


@attrs.define
class TextDocumentRef:
    """``{uri}``."""

    uri: str = attrs.field(validator=non_empty("textDocument.uri"))


@attrs.define
class PositionArg:
    """An LSP position (UTF-16 columns, as the client sends them)."""

    line: int = attrs.field(validator=within("range.line", NON_NEGATIVE))
    character: int = attrs.field(validator=within("range.character", NON_NEGATIVE))


@attrs.define
class RangeArg:
    """An LSP range."""

    start: PositionArg
    end: PositionArg

    def __attrs_post_init__(self) -> None:
        if (self.end.line, self.end.character) < (self.start.line, self.start.character):
            raise ValueError("range: end is before start")


# -- command arguments ---------------------------------------------------------


def _cached_content(_inst: Any, _attr: Any, value: str | None) -> None:
    if value is None or value == "workspace":
        return
    try:
        validate_cache_name(value)
    except ValueError as exc:
        raise ValueError(f"cachedContent: 'workspace' or a cache name; {exc}") from None


def _progress_token(_inst: Any, _attr: Any, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (str, int))):
        raise ValueError("workDoneToken: must be a string or an integer")


@attrs.define
class GenerateArgs:
    """Arguments of ``greycloud.generate``."""

    prompt: str = attrs.field(validator=non_empty("prompt"))
    text_document: TextDocumentRef | None = None
    range: RangeArg | None = None
    include_document: bool = False
    model: str | None = attrs.field(default=None, validator=non_empty("model"))
    system_instruction: str | None = None
    temperature: float | None = attrs.field(
        default=None, validator=within("temperature", TEMPERATURE)
    )
    max_output_tokens: int | None = attrs.field(
        default=None, validator=within("maxOutputTokens", MAX_OUTPUT_TOKENS)
    )
    cached_content: str | None = attrs.field(default=None, validator=_cached_content)
    insert: str = attrs.field(default="none", validator=one_of("insert", INSERT_MODES))
    work_done_token: Any = attrs.field(default=None, validator=_progress_token)
    """Fallback for clients that cannot set ``workDoneToken`` on ExecuteCommandParams."""
    wait: bool | None = None
    """With an ``insert`` mode: answer only when done (default: when a progress token was
    chosen) or at once, the edit following as ``workspace/applyEdit``."""

    def __attrs_post_init__(self) -> None:
        if (self.range is not None or self.include_document) and self.text_document is None:
            raise ValueError("textDocument: required when range or includeDocument is given")
        if self.insert != "none" and self.text_document is None:
            raise ValueError("textDocument: required when insert is 'replace' or 'after'")


@attrs.define
class CountTokensArgs:
    """Arguments of ``greycloud.countTokens``: a document or a text."""

    text_document: TextDocumentRef | None = None
    text: str | None = None

    def __attrs_post_init__(self) -> None:
        if (self.text_document is None) == (self.text is None):
            raise ValueError("textDocument: give exactly one of textDocument or text")


@attrs.define
class CacheWorkspaceArgs:
    """Arguments of ``greycloud.cacheWorkspace``."""

    folder: str | None = attrs.field(default=None, validator=non_empty("folder"))
    include: list[str] | None = None
    exclude: list[str] | None = None
    display_name: str | None = None
    ttl_seconds: int | None = attrs.field(default=None, validator=within("ttlSeconds", POSITIVE))
    system_instruction: str | None = None
    model: str | None = attrs.field(default=None, validator=non_empty("model"))
    dry_run: bool = False
    """Only say what would be cached (files, tokens, storage cost); create nothing."""
    refresh: bool = False
    """After creating the new cache, delete this server's stale caches of the same folder."""


@attrs.define
class ListCachesArgs:
    """``greycloud.listCaches`` takes an (optional, empty) object."""


def _cache_name(_inst: Any, _attr: Any, value: str) -> None:
    try:
        validate_cache_name(value)
    except ValueError as exc:
        raise ValueError(f"name: {exc}") from None


@attrs.define
class DeleteCacheArgs:
    """Arguments of ``greycloud.deleteCache``."""

    name: str = attrs.field(validator=_cache_name)


@attrs.define
class ExtendCacheArgs:
    """Arguments of ``greycloud.extendCache``."""

    name: str = attrs.field(validator=_cache_name)
    ttl_seconds: int = attrs.field(validator=within("ttlSeconds", POSITIVE))


@attrs.define
class TokenCountRequest:
    """Params of the ``greycloud/tokenCount`` request."""

    text_document: TextDocumentRef


# -- results and notifications -------------------------------------------------


@attrs.define
class Usage:
    prompt_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    total_tokens: int = 0


@attrs.define
class CacheSaving:
    """What the cache saved on one question (input side only; USD, from greycloud.pricing)."""

    model: str
    cached_tokens: int
    prompt_tokens: int
    input_cost_with_cache: float
    input_cost_without_cache: float
    saving: float
    saving_percent: float
    currency: str = "USD"


@attrs.define
class GenerateResult:
    text: str
    model: str
    finish_reason: str | None
    cancelled: bool
    usage: Usage
    cached_content: str | None = None
    cache_stale: bool = False
    cost: CacheSaving | None = None


@attrs.define
class GenerationChunk:
    """Notification ``greycloud/generationChunk``."""

    token: str
    index: int
    text: str


@attrs.define
class TokenCount:
    """Notification ``greycloud/tokenCount`` (also the request's result)."""

    uri: str
    version: int | None
    tokens: int
    exact: bool
    source: Literal["api", "local", "estimate"]


@attrs.define
class CountTokensResult:
    tokens: int
    exact: bool
    source: str


@attrs.define
class SkippedFile:
    path: str
    reason: str


@attrs.define
class CacheWorkspaceResult:
    name: str
    display_name: str | None
    model: str
    tokens: int | None
    expire_time: str | None
    files: list[str]
    skipped: list[SkippedFile]


@attrs.define
class CacheListEntry:
    name: str
    display_name: str | None
    model: str | None
    tokens: int | None
    expire_time: str | None
    owned_by_server: bool
    stale: bool


@attrs.define
class CacheStatus:
    """Notification ``greycloud/cacheStatus``: sent on create, stale, extend and delete."""

    name: str
    stale: bool
    reason: str
    deleted: bool = False
    expire_time: str | None = None
    tokens: int | None = None
    folder: str | None = None
    display_name: str | None = None
