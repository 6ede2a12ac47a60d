"""`GreyCloudAsyncClient`: the async, rate-limited twin of `GreyCloudClient`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, Literal, TypeVar, overload

from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from typing_extensions import Unpack

from greycloud import retry
from greycloud._async_stream import stream_chunks, text_stream
from greycloud._base import ClientCore
from greycloud._function_calling import generate_rounds_async
from greycloud._option_types import GenerationOptions
from greycloud._request import (
    ContentsInput,
    PreparedRequest,
    count_tokens_config,
)
from greycloud._responses import fill_parsed
from greycloud.async_chats import AsyncChats
from greycloud.auth import client_from_config
from greycloud.config import GreyCloudConfig
from greycloud.embeddings import EmbedContentsInput, embed_async, prepare_embedding
from greycloud.rate_limiter import (
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_RPM,
    DEFAULT_TPM,
    Reservation,
    VertexRateLimiter,
)
from greycloud.streaming import AsyncTextStream, StreamState

__all__ = ["DEFAULT_MAX_CONCURRENCY", "DEFAULT_RPM", "DEFAULT_TPM", "GreyCloudAsyncClient"]


T = TypeVar("T")


class GreyCloudAsyncClient(ClientCore):
    """Async client whose every generate and count call goes through one `VertexRateLimiter`.

    Limits come from the arguments, else from ``config.rpm`` / ``tpm`` /
    ``max_concurrency``, else 60 requests/min, 250,000 tokens/min and 10 at
    once; with ``config.quota_url`` the quota is shared through Redis (see
    `VertexRateLimiter.from_config`). Pass ``rate_limiter`` to share one limiter
    between several clients.
    Credentials are loaded and refreshed in a worker thread, never on the loop.
    Automatic function calling sends each model round trip through the limiter
    and the retry policy; ``chats.create(...)`` starts a chat whose turns do too.
    """

    def __init__(
        self,
        config: GreyCloudConfig | None = None,
        rpm: int | None = None,
        tpm: int | None = None,
        max_concurrency: int | None = None,
        *,
        rate_limiter: VertexRateLimiter | None = None,
        retry_policy: retry.RetryPolicy | None = None,
    ) -> None:
        super().__init__(config, retry_policy)
        self._owns_limiter = rate_limiter is None
        self.rate_limiter = rate_limiter or VertexRateLimiter.from_config(
            self.config, rpm=rpm, tpm=tpm, max_concurrency=max_concurrency
        )
        self._client: genai.Client | None = None
        self._client_lock = asyncio.Lock()

    @property
    def chats(self) -> AsyncChats:
        """``client.chats.create(...)``: multi-turn chats whose turns go through this client."""
        return AsyncChats(self)

    @property
    def client(self) -> genai.Client:
        """The underlying `genai.Client`; use this client's methods to stay rate limited.

        Created on first use, synchronously: in async code use `ensure_client`.
        """
        if self._client is None:
            self._client = client_from_config(self.config)
        return self._client

    async def reauthenticate(self) -> None:
        """Build fresh credentials and a new `genai.Client` (in a worker thread)."""
        fresh = await asyncio.to_thread(client_from_config, self.config)
        old, self._client = self._client, fresh
        if old is not None:
            await old.aio.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connections of the underlying client (and of its own limiter)."""
        client, self._client = self._client, None
        if client is not None:
            await client.aio.aclose()
        if self._owns_limiter:
            await self.rate_limiter.aclose()

    async def __aenter__(self) -> GreyCloudAsyncClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    # -- generation ------------------------------------------------------

    async def generate_content(
        self,
        contents: ContentsInput,
        **options: Unpack[GenerationOptions],
    ) -> types.GenerateContentResponse:
        """Generate a response in one attempt, within the rate limits."""
        prepared = self._prepare(contents, **options)
        return await self._generate(prepared, self._policy(0))

    @overload
    def generate_content_stream(
        self,
        contents: ContentsInput,
        *,
        return_chunks: Literal[False] = ...,
        **options: Unpack[GenerationOptions],
    ) -> AsyncTextStream[str]: ...

    @overload
    def generate_content_stream(
        self,
        contents: ContentsInput,
        *,
        return_chunks: Literal[True],
        **options: Unpack[GenerationOptions],
    ) -> AsyncTextStream[types.GenerateContentResponse]: ...

    def generate_content_stream(
        self,
        contents: ContentsInput,
        *,
        return_chunks: bool = False,
        **options: Unpack[GenerationOptions],
    ) -> AsyncTextStream[Any]:
        """``async for text in client.generate_content_stream(...)`` (one attempt).

        With ``return_chunks=True`` each `GenerateContentResponse` chunk is
        yielded whole. Python functions in ``tools`` run between rounds, each
        round a stream of its own (limited and retried).
        """
        prepared = self._prepare(contents, **options)
        return self._stream(prepared, self._policy(0), return_chunks)

    @overload
    def generate_with_retry(
        self,
        contents: ContentsInput,
        max_retries: int = ...,
        streaming: Literal[False] = ...,
        *,
        return_chunks: bool = ...,
        **options: Unpack[GenerationOptions],
    ) -> asyncio.Future[types.GenerateContentResponse]: ...

    @overload
    def generate_with_retry(
        self,
        contents: ContentsInput,
        max_retries: int = ...,
        *,
        streaming: Literal[True],
        return_chunks: Literal[False] = ...,
        **options: Unpack[GenerationOptions],
    ) -> AsyncTextStream[str]: ...

    @overload
    def generate_with_retry(
        self,
        contents: ContentsInput,
        max_retries: int = ...,
        *,
        streaming: Literal[True],
        return_chunks: Literal[True],
        **options: Unpack[GenerationOptions],
    ) -> AsyncTextStream[types.GenerateContentResponse]: ...

    @overload
    @overload
    def generate_with_retry(
        self,
        contents: ContentsInput,
        max_retries: int = ...,
        *,
        streaming: Literal[True],
        return_chunks: bool,
        **options: Unpack[GenerationOptions],
    ) -> AsyncTextStream[Any]: ...

    def generate_with_retry(
        self,
        contents: ContentsInput,
        max_retries: int = 5,
        streaming: bool = False,
        *,
        return_chunks: bool = False,
        **options: Unpack[GenerationOptions],
    ) -> Any:
        """Generate with retries, backoff, re-authentication and shared 429 slow-down.

        ``await client.generate_with_retry(...)`` gives a response. With
        ``streaming=True`` you get an `AsyncTextStream`: iterate it directly
        (``async for t in client.generate_with_retry(..., streaming=True)``) or
        await it first; both work. Streams retry only before their first chunk
        (of text, or any chunk with ``return_chunks=True``). With Python
        functions in ``tools``, every model round trip is limited and retried.
        """
        prepared = self._prepare(contents, **options)
        policy = self._policy(max_retries)
        if streaming:
            return self._stream(prepared, policy, return_chunks)
        return self._generate(prepared, policy)

    async def count_tokens(
        self,
        contents: ContentsInput,
        system_instruction: str | None = None,
        model: str | None = None,
        *,
        fallback: bool = True,
    ) -> int:
        """Tokens in ``contents`` per the API (one rate-limited request).

        On failure returns the character-based estimate when ``fallback`` is
        true, else raises.
        """
        prepared = self._prepare(contents, model=model)
        try:
            client = await self.ensure_client()
            async with self.rate_limiter.limit(0):
                result = await client.aio.models.count_tokens(
                    model=prepared.model,
                    contents=prepared.sdk_contents,
                    config=count_tokens_config(system_instruction),
                )
        except Exception as exc:
            self._slow_down(exc)
            if not fallback:
                raise self._translate(exc) from exc
            estimate = self._prepare(contents, model=model, system_instruction=system_instruction)
            return self._count_fallback(estimate, exc)
        return int(result.total_tokens or 0)

    # -- embeddings ------------------------------------------------------

    async def embed_content(
        self,
        contents: EmbedContentsInput,
        *,
        model: str | None = None,
        task_type: str | None = None,
        output_dimensionality: int | None = None,
        max_retries: int = 5,
        **options: Any,
    ) -> types.EmbedContentResponse:
        """Embeddings of ``contents`` (one per input, in input order).

        Like `GreyCloudClient.embed_content`, but the requests run concurrently,
        each admitted by the rate limiter (charged its estimated input tokens,
        then the count the API reports) and retried, a 429 slowing every caller.
        """
        prepared = prepare_embedding(
            self.config,
            contents,
            model=model,
            task_type=task_type,
            output_dimensionality=output_dimensionality,
            options=options,
            token_budget=self.rate_limiter.tpm,
        )
        return await embed_async(self, prepared, self._policy(max_retries))

    # -- internals -------------------------------------------------------

    async def ensure_client(self) -> genai.Client:
        """The underlying `genai.Client`, creating it in a worker thread if needed.

        Prefer this to `.client` inside async code: loading credentials may read
        files or run ``gcloud``, which must not happen on the event loop.
        """
        if self._client is None:
            async with self._client_lock:
                if self._client is None:
                    self._client = await asyncio.to_thread(client_from_config, self.config)
        return self._client

    def _slow_down(self, exc: BaseException, delay: float | None = None) -> None:
        """After a 429, hold back every caller sharing the limiter.

        For ``delay`` (the retry wait) or at least as long as the server asked;
        a quota that waiting cannot fix holds back nobody.
        """
        if retry.status_code(exc) != 429 or retry.quota_exhausted(exc, self._patience):
            return
        waits = [d for d in (delay, retry.server_delay(exc)) if d is not None]
        if waits:
            self.rate_limiter.penalize(min(max(waits), self._patience))

    async def _on_retry(self, exc: BaseException, delay: float) -> None:
        self._slow_down(exc, delay)
        if retry.needs_reauth(exc):
            await self.reauthenticate()

    async def _generate(
        self, prepared: PreparedRequest, policy: retry.RetryPolicy
    ) -> types.GenerateContentResponse:
        """One answer; with Python functions in ``tools``, after running the calls."""
        if not prepared.calling.automatic:
            return fill_parsed(prepared, await self._generate_once(prepared, policy))
        response = await generate_rounds_async(
            prepared, lambda request: self._generate_once(request, policy)
        )
        return fill_parsed(prepared, response)

    async def _generate_once(
        self, prepared: PreparedRequest, policy: retry.RetryPolicy
    ) -> types.GenerateContentResponse:
        async def attempt() -> types.GenerateContentResponse:
            return await self._send_admitted(
                prepared.estimated_tokens,
                lambda client: client.aio.models.generate_content(
                    model=prepared.model, contents=prepared.sdk_contents, config=prepared.config
                ),
                lambda reservation, response: reservation.settle_usage(response.usage_metadata),
            )

        return await self._call(policy, attempt)

    async def _send_admitted(
        self,
        estimated_tokens: int,
        send: Callable[[genai.Client], Awaitable[T]],
        settle: Callable[[Reservation, T], None],
    ) -> T:
        """One request once the limiter admits it; charged nothing if the API refuses it,
        else settled by ``settle`` with the response (generate and embeddings share this)."""
        client = await self.ensure_client()
        async with self.rate_limiter.limit(estimated_tokens) as reservation:
            try:
                response = await send(client)
            except genai_errors.APIError:
                reservation.settle(0)  # the server refused it: no tokens were used
                raise
            settle(reservation, response)
            return response

    async def _call(self, policy: retry.RetryPolicy, attempt: Callable[[], Awaitable[T]]) -> T:
        """``await attempt()`` under ``policy``; errors translated, a last 429 slows everyone."""
        if policy.max_retries == 0:  # one attempt: no retry loop to set up per call
            try:
                return await attempt()
            except Exception as exc:
                self._slow_down(exc)  # its 429 still slows the others down
                raise self._translate(exc) from exc
        retrying = retry.async_retrying(policy, self._on_retry)
        try:
            return await retrying(attempt)
        except Exception as exc:
            self._slow_down(exc)  # the last attempt's 429 still slows the others down
            raise self._translate(exc, retry.attempts_made(retrying)) from exc

    def _stream(
        self, prepared: PreparedRequest, policy: retry.RetryPolicy, return_chunks: bool = False
    ) -> AsyncTextStream[Any]:
        return text_stream(self, prepared, policy, return_chunks)

    def _stream_chunks(
        self, prepared: PreparedRequest, policy: retry.RetryPolicy, state: StreamState
    ) -> AsyncGenerator[Any, None]:
        """One model round's items (the cache client streams through this too)."""
        return stream_chunks(self, prepared, policy, state)
