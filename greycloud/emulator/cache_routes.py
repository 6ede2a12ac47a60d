"""``cachedContents`` routes: create, get, list, patch (ttl / expireTime), delete.

Caches live in a :class:`CacheStore` kept on the emulator state as
``state.extensions['caches']``. They expire by wall-clock time (shiftable with
:meth:`CacheStore.advance` in tests). The minimum size comes from
`greycloud.pricing.min_cache_tokens`, the same table the library checks, and
tokens are counted like ``countTokens`` counts them.

The model routes use :func:`resolve_cached_content` so a generate call that
names a cache is answered as if the cached contents preceded the request, and
reports the cached tokens in ``usageMetadata.cachedContentTokenCount``.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from greycloud.emulator.errors import ApiError
from greycloud.emulator.resources import resource_route
from greycloud.emulator.state import EmulatorState
from greycloud.emulator.text import prompt_info
from greycloud.pricing import min_cache_tokens

DEFAULT_TTL = dt.timedelta(hours=1)
MAX_PAGE_SIZE = 1000
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)s$")
_MODEL = re.compile(r"^(?:projects/[^/]+/locations/[^/]+/)?publishers/([^/]+)/models/([^/:]+)$")


def rfc3339(value: dt.datetime) -> str:
    """UTC time as the API writes it (microseconds, ``Z``)."""
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: Any, field_name: str) -> dt.datetime:
    """An RFC 3339 time from a request body, or a 400."""
    if not isinstance(value, str):
        raise ApiError(400, f"{field_name} must be an RFC 3339 timestamp string.")
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, f"Invalid value for {field_name}: {value!r}.") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed


def parse_ttl(value: Any) -> dt.timedelta:
    """A ``"3600s"`` duration, or a 400."""
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None or float(match.group(1)) <= 0:
        raise ApiError(400, f"Invalid ttl {value!r}: use a positive duration such as '3600s'.")
    return dt.timedelta(seconds=float(match.group(1)))


@dataclass
class CacheEntry:
    """One cached content resource."""

    name: str
    model: str
    display_name: str | None
    contents: list[dict[str, Any]]
    system_instruction: dict[str, Any] | None
    tools: list[Any] | None
    tool_config: dict[str, Any] | None
    token_count: int
    create_time: dt.datetime
    update_time: dt.datetime
    expire_time: dt.datetime
    text_count: int = 0

    @property
    def short_model(self) -> str:
        return self.model.rsplit("/", 1)[-1]

    def to_json(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "name": self.name,
            "model": self.model,
            "createTime": rfc3339(self.create_time),
            "updateTime": rfc3339(self.update_time),
            "expireTime": rfc3339(self.expire_time),
            "usageMetadata": {"totalTokenCount": self.token_count, "textCount": self.text_count},
        }
        if self.display_name:
            payload["displayName"] = self.display_name
        return payload


@dataclass
class CacheStore:
    """Every live cache, keyed by full resource name. Thread-safe."""

    entries: dict[str, CacheEntry] = field(default_factory=dict)
    offset: dt.timedelta = field(default_factory=dt.timedelta)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1), repr=False)

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc) + self.offset

    def advance(self, seconds: float) -> None:
        """Move the store's clock forward (tests use it to expire caches)."""
        with self._lock:
            self.offset += dt.timedelta(seconds=seconds)

    def clear(self) -> None:
        with self._lock:
            self.entries.clear()

    def new_id(self) -> str:
        with self._lock:
            return f"{next(self._ids):019d}"[-19:]

    def purge(self) -> None:
        with self._lock:
            now = self.now()
            for name in [n for n, e in self.entries.items() if e.expire_time <= now]:
                del self.entries[name]

    def add(self, entry: CacheEntry) -> None:
        with self._lock:
            self.entries[entry.name] = entry

    def get(self, name: str) -> CacheEntry | None:
        with self._lock:
            self.purge()
            return self.entries.get(name)

    def remove(self, name: str) -> bool:
        with self._lock:
            self.purge()
            return self.entries.pop(name, None) is not None

    def live(self) -> list[CacheEntry]:
        with self._lock:
            self.purge()
            return sorted(self.entries.values(), key=lambda e: e.name)


def cache_store(state: EmulatorState) -> CacheStore:
    """The state's :class:`CacheStore` (created on first use)."""
    return state.extensions.setdefault("caches", CacheStore())


def resolve_cached_content(
    state: EmulatorState, body: dict[str, Any], model: str
) -> tuple[dict[str, Any], int]:
    """For a generate body naming ``cachedContent``: the body the answer is computed from
    (cached system instruction, tools and contents first) and the cached token count.

    Bodies without a cache come back unchanged with 0. An unknown or expired
    cache is a 404; a cache made for another model is a 400.
    """
    name = body.get("cachedContent")
    if not name:
        return body, 0
    entry = cache_store(state).get(str(name))
    if entry is None:
        raise ApiError(404, f"CachedContent not found (or expired): {name}.")
    if entry.short_model != model.rsplit("/", 1)[-1]:
        raise ApiError(
            400,
            f"Model {model} does not match the model of cached content {name} "
            f"({entry.short_model}).",
        )
    merged = {k: v for k, v in body.items() if k != "cachedContent"}
    merged["contents"] = copy.deepcopy(entry.contents) + list(body.get("contents") or [])
    if entry.system_instruction is not None:
        merged["systemInstruction"] = copy.deepcopy(entry.system_instruction)
    if entry.tools:
        merged["tools"] = copy.deepcopy(entry.tools)
    return merged, entry.token_count


# -- handlers -----------------------------------------------------------------


def _parent(request: web.Request) -> str:
    info = request.match_info
    return f"projects/{info['project']}/locations/{info['location']}"


def _check_contents(contents: Any) -> None:
    if not isinstance(contents, list) or not contents:
        raise ApiError(400, "contents must be a non-empty list of Content objects.")
    for i, content in enumerate(contents):
        if not isinstance(content, dict) or not isinstance(content.get("parts"), list):
            raise ApiError(400, f"contents[{i}] must be a Content object with parts.")


def _create(state: EmulatorState, request: web.Request, body: dict[str, Any]) -> web.Response:
    store = cache_store(state)
    model = body.get("model")
    match = _MODEL.match(model) if isinstance(model, str) else None
    if match is None or not isinstance(model, str):
        raise ApiError(400, "model must be projects/P/locations/L/publishers/google/models/MODEL.")
    short = match.group(2)
    if short == "missing-model":
        raise ApiError(404, f"Publisher Model `{model}` was not found.")
    contents = body.get("contents")
    _check_contents(contents)
    if "ttl" in body and "expireTime" in body:
        raise ApiError(400, "Only one of ttl and expireTime may be set.")
    now = store.now()
    if "expireTime" in body:
        expire = parse_time(body["expireTime"], "expireTime")
        if expire <= now:
            raise ApiError(400, "expireTime must be in the future.")
    else:
        expire = now + (parse_ttl(body["ttl"]) if "ttl" in body else DEFAULT_TTL)
    system = body.get("systemInstruction")
    info = prompt_info({"contents": contents, "systemInstruction": system})
    minimum = min_cache_tokens(short)
    if info.tokens < minimum:
        raise ApiError(
            400,
            f"The cached content is of {info.tokens} tokens. The minimum token count to "
            f"start caching is {minimum}.",
        )
    if not model.startswith("projects/"):
        model = f"{_parent(request)}/{model}"
    entry = CacheEntry(
        name=f"{_parent(request)}/cachedContents/{store.new_id()}",
        model=model,
        display_name=body.get("displayName"),
        contents=copy.deepcopy(contents or []),
        system_instruction=copy.deepcopy(system) if isinstance(system, dict) else None,
        tools=copy.deepcopy(body.get("tools")),
        tool_config=copy.deepcopy(body.get("toolConfig")),
        token_count=info.tokens,
        create_time=now,
        update_time=now,
        expire_time=expire,
        text_count=len(info.text),
    )
    store.add(entry)
    return web.json_response(entry.to_json())


def _entry_or_404(state: EmulatorState, request: web.Request) -> CacheEntry:
    name = f"{_parent(request)}/cachedContents/{request.match_info['cache_id']}"
    entry = cache_store(state).get(name)
    if entry is None:
        raise ApiError(404, f"CachedContent not found: {name}.")
    return entry


def _get(state: EmulatorState, request: web.Request, body: dict[str, Any]) -> web.Response:
    del body
    return web.json_response(_entry_or_404(state, request).to_json())


def _patch(state: EmulatorState, request: web.Request, body: dict[str, Any]) -> web.Response:
    store = cache_store(state)
    entry = _entry_or_404(state, request)
    if ("ttl" in body) == ("expireTime" in body):
        raise ApiError(400, "Set exactly one of ttl or expireTime to update a cache.")
    unknown = set(body) - {"ttl", "expireTime", "name"}
    if unknown:
        raise ApiError(400, f"Only ttl and expireTime can be updated, not {sorted(unknown)}.")
    now = store.now()
    if "ttl" in body:
        expire = now + parse_ttl(body["ttl"])
    else:
        expire = parse_time(body["expireTime"], "expireTime")
        if expire <= now:
            raise ApiError(400, "expireTime must be in the future.")
    with store._lock:
        entry.expire_time = expire
        entry.update_time = now
    return web.json_response(entry.to_json())


def _delete(state: EmulatorState, request: web.Request, body: dict[str, Any]) -> web.Response:
    del body
    entry = _entry_or_404(state, request)
    cache_store(state).remove(entry.name)
    return web.json_response({})


def _list(state: EmulatorState, request: web.Request, body: dict[str, Any]) -> web.Response:
    del body
    parent = _parent(request) + "/"
    entries = [e for e in cache_store(state).live() if e.name.startswith(parent)]
    try:
        size = min(int(request.query.get("pageSize") or 100), MAX_PAGE_SIZE)
        start = int(request.query.get("pageToken") or 0)
    except ValueError:
        raise ApiError(400, "pageSize and pageToken must be integers.") from None
    size = max(size, 1)
    page = entries[start : start + size]
    payload: dict[str, Any] = {"cachedContents": [e.to_json() for e in page]}
    if start + size < len(entries):
        payload["nextPageToken"] = str(start + size)
    return web.json_response(payload)


def register_routes(app: web.Application, state: EmulatorState) -> None:
    """Add the ``cachedContents`` collection and item routes (v1 and v1beta1)."""
    cache_store(state)
    base = "/{version:v1|v1beta1}/projects/{project}/locations/{location}/cachedContents"
    item = base + "/{cache_id}"

    app.router.add_post(base, resource_route("cachedContents.create", _create))
    app.router.add_get(base, resource_route("cachedContents.list", _list))
    app.router.add_get(item, resource_route("cachedContents.get", _get))
    app.router.add_patch(item, resource_route("cachedContents.update", _patch))
    app.router.add_delete(item, resource_route("cachedContents.delete", _delete))
