"""`GreyCloudAsyncCache`: the asyncio twin of `GreyCloudCache`.

Same methods, keyword options and results (``aclose`` instead of ``close``,
`AsyncTextStream` instead of `TextStream`); requests are built and results read
by the same functions (`greycloud._cache_requests`). Every call goes through
the `GreyCloudAsyncClient`'s retry policy; token counts and cache creation also
through its rate limiter (one request each, no tokens). Credentials are loaded
in a worker thread, so nothing here blocks the event loop.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from google.genai import types

from greycloud import _cache_requests as req
from greycloud._cache_requests import DEFAULT_TTL_SECONDS
from greycloud._request import short_model_name
from greycloud.async_client import GreyCloudAsyncClient
from greycloud.config import GreyCloudConfig
from greycloud.errors import APICallError
from greycloud.pricing import CacheCostEstimate, ModelPrice
from greycloud.streaming import AsyncTextStream, StreamState

if TYPE_CHECKING:
    from google import genai

__all__ = ["GreyCloudAsyncCache"]

logger = logging.getLogger(__name__)


class GreyCloudAsyncCache:
    """Create, use, inspect and delete context caches from asyncio code.

    Pass ``client`` to share a `GreyCloudAsyncClient` (its rate limiter and
    retry policy) with other work, as the language server does.
    """

    def __init__(
        self,
        config: GreyCloudConfig | None = None,
        *,
        client: GreyCloudAsyncClient | None = None,
    ) -> None:
        if client is not None and config is not None and client.config is not config:
            logger.debug("GreyCloudAsyncCache: using the client's config for generation")
        # The client resolves a missing config (the async one off the event loop).
        self.generator = client if client is not None else GreyCloudAsyncClient(config)
        self.config = config if config is not None else self.generator.config
        self._models: dict[str, str] = {}

    @property
    def client(self) -> genai.Client:
        """The underlying `genai.Client` (built synchronously on first use: prefer
        ``await cache.generator.ensure_client()`` inside a running loop)."""
        return self.generator.client

    async def aclose(self) -> None:
        """Close the HTTP connections (caches on the server are not touched)."""
        await self.generator.aclose()

    async def __aenter__(self) -> GreyCloudAsyncCache:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- creation -------------------------------------------------------------

    async def create_cache(
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
        """Cache any contents; see `GreyCloudCache.create_cache`."""
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
            counted = await req.call_async(
                self.generator,
                lambda c: c.aio.models.count_tokens(
                    model=request.model, contents=request.contents, config=request.count_config
                ),
                rate_limited=True,
            )
            req.check_size(request, counted)
        cache = await req.call_async(
            self.generator,
            lambda c: c.aio.caches.create(model=request.model, config=request.config),
            resend=False,
            rate_limited=True,
        )
        if cache.name:
            self._models[cache.name] = request.model
        logger.info("created cache %s (%s tokens)", cache.name, req.cache_tokens(cache))
        return cache

    async def create_cache_from_text(
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
        return await self.create_cache(
            req.text_contents(text),
            model=model,
            display_name=display_name,
            system_instruction=system_instruction,
            ttl_seconds=ttl_seconds,
            min_tokens=min_tokens,
        )

    async def create_cache_from_files(
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
        """Cache Cloud Storage files (``gs://`` URIs), optionally with some text."""
        return await self.create_cache(
            req.file_contents(file_uris, mime_type, text),
            model=model,
            display_name=display_name,
            system_instruction=system_instruction,
            ttl_seconds=ttl_seconds,
            min_tokens=min_tokens,
        )

    # -- generation -----------------------------------------------------------

    async def generate_with_cache(
        self,
        cache_name: str,
        prompt: Any,
        *,
        model: str | None = None,
        max_retries: int = 3,
        **options: Any,
    ) -> types.GenerateContentResponse:
        """Ask ``prompt`` against a cache; returns the full response (see
        `GreyCloudCache.generate_with_cache`: Python functions run, each round
        rate limited)."""
        name = req.cache_name(cache_name)
        return await self.generator.generate_with_retry(
            prompt,
            max_retries,
            streaming=False,
            model=model or await self.cache_model(name),
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
    ) -> AsyncTextStream[Any]:
        """Like :meth:`generate_with_cache` but yields text chunks as they arrive
        (whole response chunks with ``return_chunks=True``).

        Arguments are checked at once; when the cache's model is not known yet
        it is looked up when iteration starts.
        """
        name = req.cache_name(cache_name)
        known = model or self._models.get(name)
        if known:
            return self.generator.generate_with_retry(
                prompt,
                max_retries,
                streaming=True,
                return_chunks=return_chunks,
                model=known,
                cached_content=name,
                **options,
            )
        # Every argument is checked now, as the sync twin does, before any request; only
        # the model (the cache's) is filled in once the first chunk is asked for.
        gen = self.generator
        prepared = gen._prepare(prompt, cached_content=name, **options)
        policy = gen._policy(max_retries)
        state = StreamState(return_chunks=return_chunks)

        async def chunks() -> Any:
            model = await self.cache_model(name)
            inner = gen._stream_chunks(dataclasses.replace(prepared, model=model), policy, state)
            async with contextlib.aclosing(inner):
                async for text in inner:
                    yield text

        return AsyncTextStream(state, chunks())

    async def cache_model(self, cache: types.CachedContent | str) -> str:
        """Short name of the model a cache belongs to (asks the API once per cache)."""
        if isinstance(cache, types.CachedContent) and cache.model:
            return short_model_name(cache.model)
        name = req.cache_name(cache)
        if name not in self._models:
            found = await self.get_cache(name)
            self._models[name] = short_model_name(found.model or self.config.model or "")
        return self._models[name]

    # -- management -----------------------------------------------------------

    async def get_cache(self, cache: types.CachedContent | str) -> types.CachedContent:
        """The cache's current metadata from the API."""
        name = req.cache_name(cache)
        return await req.call_async(self.generator, lambda c: c.aio.caches.get(name=name))

    async def list_caches(self, *, page_size: int = 100) -> list[types.CachedContent]:
        """Every live cache in the project and location."""
        config = req.list_config(page_size)

        async def every_page(c: genai.Client) -> list[types.CachedContent]:
            return [cache async for cache in await c.aio.caches.list(config=config)]

        return await req.call_async(self.generator, every_page)

    async def get_cache_info(self, cache: types.CachedContent | str) -> dict[str, Any]:
        """A plain dict: name, display_name, model, total_token_count, create/update/expire
        times (ISO 8601 strings). A name is looked up first."""
        found = cache if isinstance(cache, types.CachedContent) else await self.get_cache(cache)
        return req.cache_info(found)

    async def update_cache_ttl(
        self,
        name: types.CachedContent | str,
        ttl_seconds: float | None = None,
        expire_time: dt.datetime | str | None = None,
    ) -> types.CachedContent:
        """Set a new lifetime: ``ttl_seconds`` from now, or an absolute ``expire_time``."""
        update = req.update_config(ttl_seconds, expire_time)
        cache_name = req.cache_name(name)
        return await req.call_async(
            self.generator, lambda c: c.aio.caches.update(name=cache_name, config=update)
        )

    async def delete_cache(self, name: types.CachedContent | str) -> None:
        """Delete one cache (storage charges stop)."""
        cache_name = req.cache_name(name)
        await req.call_async(self.generator, lambda c: c.aio.caches.delete(name=cache_name))
        self._models.pop(cache_name, None)
        logger.info("deleted cache %s", cache_name)

    async def delete_all_caches(self, display_name_filter: str | None = None) -> int:
        """Delete every cache, or only those whose display name equals the filter."""
        deleted = 0
        for cache in await self.list_caches():
            if display_name_filter is not None and cache.display_name != display_name_filter:
                continue
            try:
                await self.delete_cache(cache)
            except APICallError as exc:
                if exc.code != 404:
                    raise
                continue
            deleted += 1
        return deleted

    # -- costs ----------------------------------------------------------------

    async def estimate_cost_savings(
        self,
        cache: types.CachedContent | str,
        num_queries: int,
        *,
        hours: float = 1.0,
        prices: Mapping[str, ModelPrice] | None = None,
    ) -> CacheCostEstimate:
        """Estimated saving of ``num_queries`` queries on ``cache`` kept for ``hours``."""
        found = cache if isinstance(cache, types.CachedContent) else await self.get_cache(cache)
        return req.cost_estimate(found, self.config, num_queries, hours, prices)
