"""Typed payloads for command arguments, results and custom notifications.

Everything on the wire is camelCase; the attrs classes use snake_case and a
converter renames fields both ways. :func:`parse` turns a raw command argument
into a payload object or raises ``JsonRpcInvalidParams`` whose message names
the offending field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from pygls.exceptions import JsonRpcInvalidParams

from greycloud.cache_names import validate_cache_name
from greycloud.rules import MAX_OUTPUT_TOKENS, NON_NEGATIVE, POSITIVE, TEMPERATURE, Bound

T = TypeVar("T")

INSERT_MODES = ("none", "replace", "after")


def camel(name: str) -> str:
    """``max_output_tokens`` -> ``maxOutputTokens``."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _strict(kind: type, label: str) -> Callable[[Any, type], Any]:
    def hook(value: Any, _type: type) -> Any:
        if isinstance(value, bool) and kind is not bool:
            raise TypeError(f"expected {label}, got a boolean")
        if kind is float and isinstance(value, int):
            return float(value)
        if not isinstance(value, kind):
            raise TypeError(f"expected {label}, got {type(value).__name__}")
        return value

    return hook


def _str_list(value: Any, _type: type) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError("expected a list of strings")
    return list(value)


def make_converter() -> cattrs.Converter:
    """A converter with strict scalars and camelCase field names."""
    conv = cattrs.Converter(detailed_validation=True)
    conv.register_structure_hook(str, _strict(str, "a string"))
    conv.register_structure_hook(int, _strict(int, "an integer"))
    conv.register_structure_hook(float, _strict(float, "a number"))
    conv.register_structure_hook(bool, _strict(bool, "a boolean"))
    conv.register_structure_hook_func(lambda t: t == list[str], _str_list)

    def structure_factory(cls: type) -> Callable[[Any, type], Any]:
        fn = make_dict_structure_fn(
            cls, conv, **{a.name: override(rename=camel(a.name)) for a in attrs.fields(cls)}
        )

        def hook(value: Any, t: type) -> Any:
            if not isinstance(value, dict):
                raise TypeError("expected an object")
            return fn(value, t)

        return hook

    def unstructure_factory(cls: type) -> Callable[[Any], Any]:
        return make_dict_unstructure_fn(
            cls, conv, **{a.name: override(rename=camel(a.name)) for a in attrs.fields(cls)}
        )

    conv.register_structure_hook_factory(attrs.has, structure_factory)
    conv.register_unstructure_hook_factory(attrs.has, unstructure_factory)
    return conv


converter = make_converter()


def _leaves(exc: BaseException, path: str) -> list[tuple[str, BaseException]]:
    if isinstance(exc, cattrs.ClassValidationError):
        with_notes, without = exc.group_exceptions()
        out = []
        for sub, note in with_notes:
            out.extend(_leaves(sub, f"{path}.{camel(note.name)}" if path else camel(note.name)))
        for sub in without:
            out.extend(_leaves(sub, path))
        return out
    if isinstance(exc, cattrs.BaseValidationError):
        return [leaf for sub in exc.exceptions for leaf in _leaves(sub, path)]
    return [(path, exc)]


def describe_error(exc: BaseException) -> str:
    """A short message naming every bad field of a (cattrs) validation error."""
    parts = []
    for path, leaf in _leaves(exc, ""):
        if isinstance(leaf, KeyError):
            parts.append(f"{path}: required field missing")
        elif isinstance(leaf, ValueError) and ": " in str(leaf):
            parts.append(str(leaf))  # our validators already name the field
        else:
            parts.append(f"{path or 'argument'}: {leaf}")
    return "; ".join(parts)


def plain(value: Any) -> Any:
    """JSON data from what pygls hands over (it turns unknown objects into namedtuples)."""
    if hasattr(value, "_asdict"):
        return {k: plain(v) for k, v in value._asdict().items()}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def parse(cls: type[T], arguments: Any, command: str) -> T:
    """Structure one command argument into ``cls`` or raise InvalidParams naming the field."""
    arguments = plain(arguments)
    if isinstance(arguments, (list, tuple)):
        if len(arguments) != 1:
            raise JsonRpcInvalidParams(
                f"{command}: expected exactly one argument object, got {len(arguments)}"
            )
        arguments = arguments[0]
    if not isinstance(arguments, dict):
        raise JsonRpcInvalidParams(f"{command}: argument: expected an object")
    try:
        return converter.structure(arguments, cls)
    except (cattrs.BaseValidationError, ValueError, TypeError) as exc:
        raise JsonRpcInvalidParams(f"{command}: {describe_error(exc)}") from None


def dump(obj: Any) -> Any:
    """Unstructure a payload into camelCase JSON-ready data."""
    return converter.unstructure(obj)


# -- validators ---------------------------------------------------------------


def within(field: str, bound: Bound) -> Callable[[Any, Any, Any], None]:
    """An attrs validator: ``value`` is None or inside ``bound`` (a `greycloud.rules` rule).

    The message names the camelCase ``field``, e.g. ``temperature: must be between 0 and 2``.
    """

    def check(_inst: Any, _attr: Any, value: Any) -> None:
        if value is not None and not bound.admits(value):
            raise ValueError(f"{field}: must be {bound.requirement}")

    return check


def non_empty(field: str) -> Callable[[Any, Any, Any], None]:
    def check(_inst: Any, _attr: Any, value: Any) -> None:
        if value is not None and not value.strip():
            raise ValueError(f"{field}: must not be empty")

    return check


def one_of(field: str, choices: tuple[str, ...]) -> Callable[[Any, Any, Any], None]:
    """An attrs validator: ``value`` is one of ``choices`` (the message lists them)."""

    def check(_inst: Any, _attr: Any, value: str) -> None:
        if value not in choices:
            raise ValueError(f"{field}: must be one of {', '.join(choices)}")

    return check


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
