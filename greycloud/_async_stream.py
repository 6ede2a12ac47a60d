"""The async client's streams: admit, open (retryably), read, settle and close.

Split out of `greycloud.async_client`; `GreyCloudAsyncClient._stream` and
``_stream_chunks`` delegate here. The sync twin lives in `greycloud.client`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import TYPE_CHECKING, Any

from google.genai import errors as genai_errors
from google.genai import types

from greycloud import retry
from greycloud._function_calling import stream_rounds_async
from greycloud._request import PreparedRequest
from greycloud.errors import GreyCloudError
from greycloud.rate_limiter import Reservation
from greycloud.streaming import AsyncTextStream, StreamState

if TYPE_CHECKING:
    from greycloud.async_client import GreyCloudAsyncClient


def text_stream(
    client: GreyCloudAsyncClient,
    prepared: PreparedRequest,
    policy: retry.RetryPolicy,
    return_chunks: bool = False,
) -> AsyncTextStream[Any]:
    """The stream a caller iterates; with Python functions in ``tools``, over every round."""
    state = StreamState(return_chunks=return_chunks)
    if not prepared.calling.automatic:
        return AsyncTextStream(state, stream_chunks(client, prepared, policy, state))
    rounds = stream_rounds_async(
        prepared, state, lambda request: stream_chunks(client, request, policy, state)
    )
    return AsyncTextStream(state, rounds)


async def _open_stream(
    client: GreyCloudAsyncClient, prepared: PreparedRequest, state: StreamState
) -> tuple[Reservation, AsyncIterator[types.GenerateContentResponse], Any]:
    """Admit, start a stream and read up to its first item to deliver (retryable)."""
    state.begin_attempt()
    sdk = await client.ensure_client()
    reservation = await client.rate_limiter.acquire(prepared.estimated_tokens)
    upstream: AsyncIterator[types.GenerateContentResponse] | None = None
    try:
        upstream = await sdk.aio.models.generate_content_stream(
            model=prepared.model, contents=prepared.sdk_contents, config=prepared.config
        )
        async for chunk in upstream:
            reservation.confirm()
            item = state.absorb(chunk)
            if item is not None:
                return reservation, upstream, item
        return reservation, upstream, None
    except BaseException as exc:
        if isinstance(exc, genai_errors.APIError):
            reservation.settle(0)
        reservation.release()
        if upstream is not None:
            await _aclose(upstream)
        raise


async def stream_chunks(
    client: GreyCloudAsyncClient,
    prepared: PreparedRequest,
    policy: retry.RetryPolicy,
    state: StreamState,
) -> AsyncGenerator[Any, None]:
    """One model round's items; opening is retried, a break mid-stream is not."""
    retrying = retry.async_retrying(policy, client._on_retry)
    reservation: Reservation
    upstream: AsyncIterator[types.GenerateContentResponse]
    first: str | None
    try:
        reservation, upstream, first = await retrying(_open_stream, client, prepared, state)
    except Exception as exc:
        client._slow_down(exc)
        raise client._translate(exc, retry.attempts_made(retrying)) from exc
    try:
        if first is None:
            return
        yield state.delivered(first)
        try:
            async for chunk in upstream:
                item = state.absorb(chunk)
                if item is not None:
                    yield state.delivered(item)
        except GreyCloudError:
            raise
        except Exception as exc:
            client._slow_down(exc)
            raise client._stream_broke(state, exc) from exc
    finally:
        reservation.settle_usage(state.usage_metadata)
        reservation.release()
        await _aclose(upstream)


async def _aclose(iterator: Any) -> None:
    close = getattr(iterator, "aclose", None)
    if close is not None:
        await close()
