"""`GreyCloudCache`: Vertex AI context caches, from creation to clean-up.

A cache holds contents (and optionally a system instruction and tools) that
later requests reference by name; their tokens are billed at the discounted
cached rate plus storage per hour (see `greycloud.pricing`). Caches cost money
while they live: delete them when done. `GreyCloudAsyncCache`
(`greycloud.async_cache`) has the same methods for asyncio; both build their
requests and read their results in `greycloud._cache_requests`.

Every call goes through the client's retry policy: reads, updates and deletes
are retried like generation; creation is retried only after refusals that
created nothing (429, 401), so a cache is never created twice.

Minimum cacheable size
----------------------
Vertex refuses caches below a per-model minimum. Before uploading, GreyCloud
counts the tokens with the API's ``countTokens`` and refuses too-small content
itself with `CacheTooSmallError` (both numbers in the message). The minimum is
`greycloud.pricing.min_cache_tokens` (the table, with where each number comes
from, is `greycloud.pricing.MIN_CACHE_TOKENS`); Google's pages disagree, so the
table holds the lowest value any source gives. ``min_tokens=`` on the create
methods overrides it for one call (``0`` skips the pre-check and lets the API
decide). Cache names: see `greycloud.cache_names`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from google.genai import types

from greycloud import _cache_requests as req
from greycloud._cache_requests import (
    DEFAULT_TTL_SECONDS,
    CacheTooSmallError,
    api_errors,
    cache_tokens,
    effective_min_tokens,
    ttl_string,
)
from greycloud._request import short_model_name
from greycloud.client import GreyCloudClient
from greycloud.config import GreyCloudConfig
from greycloud.errors import APICallError
from greycloud.pricing import (
    DEFAULT_MIN_CACHE_TOKENS,
    MIN_CACHE_TOKENS,
    CacheCostEstimate,
    ModelPrice,
    min_cache_tokens,
)

if TYPE_CHECKING:
    from google import genai

    from greycloud.streaming import TextStream

__all__ = [
    "DEFAULT_MIN_CACHE_TOKENS",
    "DEFAULT_TTL_SECONDS",
    "MIN_CACHE_TOKENS",
    "CacheTooSmallError",
    "GreyCloudCache",
    "api_errors",
    "cache_tokens",
    "effective_min_tokens",
    "min_cache_tokens",
    "ttl_string",
]

logger = logging.getLogger(__name__)


class GreyCloudCache:
    """Create, use, inspect and delete context caches for one `GreyCloudConfig`.

    Every call goes through a `GreyCloudClient` (retries, re-auth, request
    checks); ``client`` is that client's `genai.Client`, shared by every call.
    """

    def __init__(
        self, config: GreyCloudConfig | None = None, *, client: GreyCloudClient | None = None
    ) -> None:
        if client is not None and config is not None and client.config is not config:
            logger.debug("GreyCloudCache: using the client's config for generation")
        # The client resolves a missing config (the async one off the event loop).
        self.generator = client if client is not None else GreyCloudClient(config)
        self.config = config if config is not None else self.generator.config
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
        tools: Sequence[types.Tool | Callable[..., Any]] | None = None,
        ttl_seconds: float | None = DEFAULT_TTL_SECONDS,
        expire_time: dt.datetime | str | None = None,
        min_tokens: int | None = None,
    ) -> types.CachedContent:
        """Cache any contents (as `GreyCloudClient` accepts them).

        ``tools`` may hold Python functions: their declarations are cached, and
        passing the same functions as ``tools=`` to a request on the cache has
        them called (automatic function calling). Counts the tokens first and
        raises `CacheTooSmallError` below ``min_tokens`` (default: the model's
        minimum from `greycloud.pricing`; 0 skips the count). Give
        ``ttl_seconds`` or ``expire_time`` (the latter wins).
        """
        request = req.create_request(
            self.config,
            contents,
            model=model,
            display_name=display_name,
            system_instruction=system_instruction,
            tools=tools,
            ttl_seconds=ttl_seconds,
            expire_time=expire_time,
            min_tokens=min_tokens,
        )
        if request.min_tokens > 0:
            counted = req.call_sync(
                self.generator,
                lambda c: c.models.count_tokens(
                    model=request.model, contents=request.contents, config=request.count_config
                ),
            )
            req.check_size(request, counted)
        cache = req.call_sync(
            self.generator,
            lambda c: c.caches.create(model=request.model, config=request.config),
            resend=False,
        )
        if cache.name:
            self._models[cache.name] = request.model
        logger.info("created cache %s (%s tokens)", cache.name, req.cache_tokens(cache))
        return cache

    def create_cache_from_text(
        self,
        text: str,
        *,
        display_name: str | None = None,
        system_instruction: str | None = None,
        ttl_seconds: float | None = DEFAULT_TTL_SECONDS,
        model: str | None = None,
        min_tokens: int | None = None,
    ) -> types.CachedContent:
        """Cache one text document."""
        return self.create_cache(
            req.text_contents(text),
            model=model,
            display_name=display_name,
            system_instruction=system_instruction,
            ttl_seconds=ttl_seconds,
            min_tokens=min_tokens,
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
        min_tokens: int | None = None,
    ) -> types.CachedContent:
        """Cache Cloud Storage files (``gs://`` URIs), optionally with some text.

        ``mime_type`` is one type for all files or one per file; missing ones are
        guessed from the file name (``text/plain`` when unknown).
        """
        return self.create_cache(
            req.file_contents(file_uris, mime_type, text),
            model=model,
            display_name=display_name,
            system_instruction=system_instruction,
            ttl_seconds=ttl_seconds,
            min_tokens=min_tokens,
        )

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

        ``options`` are `GreyCloudClient` per-request overrides (any
        `GenerateContentConfig` field: temperature, response_schema, ...).
        ``system_instruction``, ``tool_config`` and tools other than Python
        functions are refused: they belong in the cache. Python functions whose
        declarations the cache holds are called when the model asks for them.
        """
        name = req.cache_name(cache_name)
        return self.generator.generate_with_retry(
            prompt,
            max_retries,
            streaming=False,
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
        return_chunks: bool = False,
        **options: Any,
    ) -> TextStream[Any]:
        """Like :meth:`generate_with_cache` but yields text chunks as they arrive
        (whole response chunks with ``return_chunks=True``)."""
        name = req.cache_name(cache_name)
        return self.generator.generate_with_retry(
            prompt,
            max_retries,
            streaming=True,
            return_chunks=return_chunks,
            model=model or self.cache_model(name),
            cached_content=name,
            **options,
        )

    def cache_model(self, cache: types.CachedContent | str) -> str:
        """Short name of the model a cache belongs to (asks the API once per cache)."""
        if isinstance(cache, types.CachedContent) and cache.model:
            return short_model_name(cache.model)
        name = req.cache_name(cache)
        if name not in self._models:
            found = self.get_cache(name)
            self._models[name] = short_model_name(found.model or self.config.model or "")
        return self._models[name]

    # -- management -----------------------------------------------------------

    def get_cache(self, cache: types.CachedContent | str) -> types.CachedContent:
        """The cache's current metadata from the API."""
        name = req.cache_name(cache)
        return req.call_sync(self.generator, lambda c: c.caches.get(name=name))

    def list_caches(self, *, page_size: int = 100) -> list[types.CachedContent]:
        """Every live cache in the project and location."""
        config = req.list_config(page_size)
        return req.call_sync(self.generator, lambda c: list(c.caches.list(config=config)))

    def get_cache_info(self, cache: types.CachedContent | str) -> dict[str, Any]:
        """A plain dict: name, display_name, model, total_token_count, create/update/expire
        times (ISO 8601 strings). A name is looked up first."""
        found = cache if isinstance(cache, types.CachedContent) else self.get_cache(cache)
        return req.cache_info(found)

    def update_cache_ttl(
        self,
        name: types.CachedContent | str,
        ttl_seconds: float | None = None,
        expire_time: dt.datetime | str | None = None,
    ) -> types.CachedContent:
        """Set a new lifetime: ``ttl_seconds`` from now, or an absolute ``expire_time``.

        Exactly one of the two must be given.
        """
        update = req.update_config(ttl_seconds, expire_time)
        cache_name = req.cache_name(name)
        return req.call_sync(
            self.generator, lambda c: c.caches.update(name=cache_name, config=update)
        )

    def delete_cache(self, name: types.CachedContent | str) -> None:
        """Delete one cache (storage charges stop)."""
        cache_name = req.cache_name(name)
        req.call_sync(self.generator, lambda c: c.caches.delete(name=cache_name))
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
        return req.cost_estimate(found, self.config, num_queries, hours, prices)
