"""`GreyCloudCache`: Vertex AI context caches, from creation to clean-up.

A cache holds contents (and optionally a system instruction and tools) that
later requests reference by name; their tokens are billed at the discounted
cached rate plus storage per hour (see `greycloud.pricing`). Caches cost money
while they live: delete them when done.

Minimum cacheable size
----------------------
Vertex refuses caches below a per-model minimum. GreyCloud counts the tokens
with the API's ``countTokens`` first and refuses too-small content itself, with
`CacheTooSmallError` giving both numbers. The values (longest prefix of the
short model name wins; the table is `greycloud.pricing.MIN_CACHE_TOKENS`, shared
with the emulator; edit it if Google changes the values):

| model prefix    | minimum tokens |
|-----------------|----------------|
| gemini-3-pro    | 4096           |
| gemini-3-flash  | 1024           |
| gemini-2.5-pro  | 4096           |
| gemini-2.5-flash| 1024 (also -lite) |
| gemini-2.0-flash| 4096 (also -lite) |
| anything else   | 4096, the strictest known value |
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from google.genai import types

from greycloud import retry
from greycloud._request import normalize_contents
from greycloud.client import GreyCloudClient
from greycloud.config import GreyCloudConfig
from greycloud.errors import APICallError, GreyCloudError
from greycloud.pricing import (
    DEFAULT_MIN_CACHE_TOKENS,
    MIN_CACHE_TOKENS,
    CacheCostEstimate,
    ModelPrice,
    estimate_cache_cost,
    min_cache_tokens,
    short_model_name,
)
from greycloud.storage import guess_mime_type, parse_gs_uri

if TYPE_CHECKING:
    from google import genai

    from greycloud.streaming import TextStream

__all__ = [
    "DEFAULT_MIN_CACHE_TOKENS",
    "MIN_CACHE_TOKENS",
    "CacheTooSmallError",
    "GreyCloudCache",
    "api_errors",
    "min_cache_tokens",
    "ttl_string",
]

logger = logging.getLogger(__name__)

DEFAULT_TTL_SECONDS = 3600
FALLBACK_FILE_MIME_TYPE = "text/plain"


class CacheTooSmallError(GreyCloudError):
    """The content is below the model's minimum cacheable token count."""

    def __init__(self, message: str, *, token_count: int, min_tokens: int, model: str):
        super().__init__(message)
        self.token_count = token_count
        self.min_tokens = min_tokens
        self.model = model


@contextlib.contextmanager
def api_errors(config: GreyCloudConfig) -> Iterator[None]:
    """Raise API and transport failures as `GreyCloudError` (one attempt, no retry)."""
    try:
        yield
    except (GreyCloudError, ValueError, TypeError):
        raise
    except Exception as exc:
        raise retry.translate(exc, sa_email=config.sa_email) from exc


def ttl_string(ttl_seconds: float) -> str:
    """The API's duration format for a positive number of seconds."""
    if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, (int, float)):
        raise ValueError(f"ttl_seconds={ttl_seconds!r} must be a number of seconds.")
    if ttl_seconds <= 0:
        raise ValueError(f"ttl_seconds={ttl_seconds!r} must be greater than 0.")
    return f"{int(ttl_seconds)}s" if float(ttl_seconds).is_integer() else f"{ttl_seconds:.3f}s"


def _as_utc(value: dt.datetime | str) -> dt.datetime:
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"expire_time={value!r} is not an ISO 8601 time.") from None
    if not isinstance(value, dt.datetime):
        raise ValueError("expire_time must be a datetime or an ISO 8601 string.")
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _file_mime_types(
    file_uris: Sequence[str], mime_type: str | Sequence[str | None] | None
) -> list[str]:
    if isinstance(mime_type, str) or mime_type is None:
        given: list[str | None] = [mime_type] * len(file_uris)
    else:
        given = list(mime_type)
        if len(given) != len(file_uris):
            raise ValueError(
                f"mime_type has {len(given)} entries for {len(file_uris)} files: give one each, "
                "or one string for all."
            )
    return [
        m or guess_mime_type(uri, FALLBACK_FILE_MIME_TYPE)
        for uri, m in zip(file_uris, given, strict=True)
    ]


class GreyCloudCache:
    """Create, use, inspect and delete context caches for one `GreyCloudConfig`.

    Generation goes through a `GreyCloudClient` (retries, re-auth, request
    checks); ``client`` is that client's `genai.Client`, shared by every call.
    """

    def __init__(
        self, config: GreyCloudConfig | None = None, *, client: GreyCloudClient | None = None
    ) -> None:
        if client is not None and config is not None and client.config is not config:
            logger.debug("GreyCloudCache: using the client's config for generation")
        self.config = (
            config
            if config is not None
            else (client.config if client is not None else GreyCloudConfig())
        )
        self.generator = client if client is not None else GreyCloudClient(self.config)
        self._models: dict[str, str] = {}

    @property
    def client(self) -> genai.Client:
        """The underlying `genai.Client`."""
        return self.generator.client

    def close(self) -> None:
        """Close the HTTP connections (caches on the server are not touched)."""
        self.generator.close()

    def __enter__(self) -> GreyCloudCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- creation -------------------------------------------------------------

    def create_cache(
        self,
        contents: Any,
        *,
        model: str | None = None,
        display_name: str | None = None,
        system_instruction: str | types.Content | None = None,
        tools: list[types.Tool] | None = None,
        ttl_seconds: float | None = DEFAULT_TTL_SECONDS,
        expire_time: dt.datetime | str | None = None,
    ) -> types.CachedContent:
        """Cache any contents (as `GreyCloudClient` accepts them).

        Counts the tokens first and raises `CacheTooSmallError` below the
        model's minimum. Give ``ttl_seconds`` or ``expire_time`` (the latter wins).
        """
        name = short_model_name(model or self.config.model or "")
        if not name:
            raise ValueError("No model: pass model= or set config.model.")
        normalized = normalize_contents(contents)
        self._check_size(name, normalized, system_instruction, tools)
        cache_config = types.CreateCachedContentConfig(
            contents=normalized,
            display_name=display_name,
            system_instruction=system_instruction,
            tools=tools,
            ttl=None if expire_time is not None else ttl_string(ttl_seconds or DEFAULT_TTL_SECONDS),
            expire_time=_as_utc(expire_time) if expire_time is not None else None,
        )
        with api_errors(self.config):
            cache = self.client.caches.create(model=name, config=cache_config)
        if cache.name:
            self._models[cache.name] = name
        logger.info("created cache %s (%s tokens)", cache.name, _tokens(cache))
        return cache

    def create_cache_from_text(
        self,
        text: str,
        *,
        display_name: str | None = None,
        system_instruction: str | None = None,
        ttl_seconds: float | None = DEFAULT_TTL_SECONDS,
        model: str | None = None,
    ) -> types.CachedContent:
        """Cache one text document."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError("text is empty: there is nothing to cache.")
        contents = [types.Content(role="user", parts=[types.Part.from_text(text=text)])]
        return self.create_cache(
            contents,
            model=model,
            display_name=display_name,
            system_instruction=system_instruction,
            ttl_seconds=ttl_seconds,
        )

    def create_cache_from_files(
        self,
        file_uris: Sequence[str],
        *,
        mime_type: str | Sequence[str | None] | None = None,
        display_name: str | None = None,
        system_instruction: str | None = None,
        text: str | None = None,
        ttl_seconds: float | None = DEFAULT_TTL_SECONDS,
        model: str | None = None,
    ) -> types.CachedContent:
        """Cache Cloud Storage files (``gs://`` URIs), optionally with some text.

        ``mime_type`` is one type for all files or one per file; missing ones are
        guessed from the file name (``text/plain`` when unknown).
        """
        if isinstance(file_uris, str):
            file_uris = [file_uris]
        uris = [parse_gs_uri(uri).uri for uri in file_uris]
        if not uris:
            raise ValueError("file_uris is empty: there is nothing to cache.")
        parts = [
            types.Part.from_uri(file_uri=uri, mime_type=mime)
            for uri, mime in zip(uris, _file_mime_types(uris, mime_type), strict=True)
        ]
        if text:
            parts.append(types.Part.from_text(text=text))
        return self.create_cache(
            [types.Content(role="user", parts=parts)],
            model=model,
            display_name=display_name,
            system_instruction=system_instruction,
            ttl_seconds=ttl_seconds,
        )

    def _check_size(
        self,
        model: str,
        contents: list[types.Content],
        system_instruction: str | types.Content | None,
        tools: list[types.Tool] | None,
    ) -> int:
        minimum = min_cache_tokens(model)
        count_config = None
        if system_instruction is not None or tools:
            count_config = types.CountTokensConfig(
                system_instruction=system_instruction, tools=tools
            )
        with api_errors(self.config):
            counted = self.client.models.count_tokens(
                model=model, contents=contents, config=count_config
            )
        total = int(counted.total_tokens or 0)
        if total < minimum:
            raise CacheTooSmallError(
                f"Content has {total} tokens but {model} can only cache {minimum} tokens or "
                f"more: add {minimum - total} tokens, or send it without a cache.",
                token_count=total,
                min_tokens=minimum,
                model=model,
            )
        return total

    # -- generation -----------------------------------------------------------

    def generate_with_cache(
        self,
        cache_name: str,
        prompt: Any,
        *,
        model: str | None = None,
        max_retries: int = 3,
        **options: Any,
    ) -> types.GenerateContentResponse:
        """Ask ``prompt`` against a cache; returns the full response.

        ``options`` are `GreyCloudClient` per-request overrides (temperature,
        max_output_tokens, ...). ``system_instruction`` is refused: it belongs
        in the cache.
        """
        name = self._cache_name(cache_name)
        return self.generator.generate_with_retry(
            prompt,
            max_retries,
            model=model or self.cache_model(name),
            cached_content=name,
            **options,
        )

    def generate_with_cache_stream(
        self,
        cache_name: str,
        prompt: Any,
        *,
        model: str | None = None,
        max_retries: int = 3,
        **options: Any,
    ) -> TextStream:
        """Like :meth:`generate_with_cache` but yields text chunks as they arrive."""
        name = self._cache_name(cache_name)
        return self.generator.generate_with_retry(
            prompt,
            max_retries,
            streaming=True,
            model=model or self.cache_model(name),
            cached_content=name,
            **options,
        )

    def cache_model(self, cache: types.CachedContent | str) -> str:
        """Short name of the model a cache belongs to (asks the API once per cache)."""
        if isinstance(cache, types.CachedContent) and cache.model:
            return short_model_name(cache.model)
        name = self._cache_name(cache)
        if name not in self._models:
            found = self.get_cache(name)
            self._models[name] = short_model_name(found.model or self.config.model or "")
        return self._models[name]

    # -- management -----------------------------------------------------------

    def get_cache(self, cache: types.CachedContent | str) -> types.CachedContent:
        """The cache's current metadata from the API."""
        with api_errors(self.config):
            return self.client.caches.get(name=self._cache_name(cache))

    def list_caches(self, *, page_size: int = 100) -> list[types.CachedContent]:
        """Every live cache in the project and location."""
        with api_errors(self.config):
            pager = self.client.caches.list(
                config=types.ListCachedContentsConfig(page_size=page_size)
            )
            return list(pager)

    def get_cache_info(self, cache: types.CachedContent | str) -> dict[str, Any]:
        """A plain dict: name, display_name, model, total_token_count, create/update/expire
        times (ISO 8601 strings). A name is looked up first."""
        found = cache if isinstance(cache, types.CachedContent) else self.get_cache(cache)
        return {
            "name": found.name,
            "display_name": found.display_name,
            "model": found.model,
            "total_token_count": _tokens(found),
            "create_time": _iso(found.create_time),
            "update_time": _iso(found.update_time),
            "expire_time": _iso(found.expire_time),
        }

    def update_cache_ttl(
        self,
        name: types.CachedContent | str,
        ttl_seconds: float | None = None,
        expire_time: dt.datetime | str | None = None,
    ) -> types.CachedContent:
        """Set a new lifetime: ``ttl_seconds`` from now, or an absolute ``expire_time``.

        Exactly one of the two must be given.
        """
        if (ttl_seconds is None) == (expire_time is None):
            raise ValueError("Give exactly one of ttl_seconds or expire_time.")
        if ttl_seconds is not None:
            update = types.UpdateCachedContentConfig(ttl=ttl_string(ttl_seconds))
        else:
            assert expire_time is not None
            when = _as_utc(expire_time)
            if when <= dt.datetime.now(dt.timezone.utc):
                raise ValueError(f"expire_time={when.isoformat()} is in the past.")
            update = types.UpdateCachedContentConfig(expire_time=when)
        with api_errors(self.config):
            return self.client.caches.update(name=self._cache_name(name), config=update)

    def delete_cache(self, name: types.CachedContent | str) -> None:
        """Delete one cache (storage charges stop)."""
        cache_name = self._cache_name(name)
        with api_errors(self.config):
            self.client.caches.delete(name=cache_name)
        self._models.pop(cache_name, None)
        logger.info("deleted cache %s", cache_name)

    def delete_all_caches(self, display_name_filter: str | None = None) -> int:
        """Delete every cache, or only those whose display name equals the filter.

        Returns how many were deleted; caches that vanish meanwhile are skipped.
        """
        deleted = 0
        for cache in self.list_caches():
            if display_name_filter is not None and cache.display_name != display_name_filter:
                continue
            try:
                self.delete_cache(cache)
            except APICallError as exc:
                if exc.code != 404:
                    raise
                continue
            deleted += 1
        return deleted

    # -- costs ----------------------------------------------------------------

    def estimate_cost_savings(
        self,
        cache: types.CachedContent | str,
        num_queries: int,
        *,
        hours: float = 1.0,
        prices: Mapping[str, ModelPrice] | None = None,
    ) -> CacheCostEstimate:
        """Estimated saving of ``num_queries`` queries on ``cache`` kept for ``hours``,
        and its storage cost per hour, from `greycloud.pricing` (or ``prices``)."""
        found = cache if isinstance(cache, types.CachedContent) else self.get_cache(cache)
        tokens = _tokens(found)
        if tokens is None:
            raise GreyCloudError(f"Cache {found.name} does not report its token count.")
        model = found.model or self.config.model or ""
        return estimate_cache_cost(tokens, num_queries, model=model, hours=hours, prices=prices)

    # -- helpers --------------------------------------------------------------

    @staticmethod
    def _cache_name(cache: types.CachedContent | str) -> str:
        name = cache.name if isinstance(cache, types.CachedContent) else cache
        if not isinstance(name, str) or not name.strip():
            raise ValueError("A cache (or its name) is required.")
        name = name.strip()
        # '%' too: an encoded "%2e%2e" or "%2F" would leave the cachedContents collection.
        if ".." in name or any(ch in name for ch in "?#&% ") or not name.isprintable():
            raise ValueError(f"Invalid cache name {name!r}.")
        return name


def _tokens(cache: types.CachedContent) -> int | None:
    usage = cache.usage_metadata
    return usage.total_token_count if usage is not None else None
