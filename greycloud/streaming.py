"""Streams returned by ``generate_content_stream`` on both clients.

A stream yields text chunks as they arrive (or, with ``return_chunks=True``,
each `GenerateContentResponse` chunk whole: function calls, grounding, safety
ratings, usage) and keeps what the response said about itself (usage, finish
reason, model version) so a caller can read them when the stream ends.
`TextStream` is iterated with ``for``; `AsyncTextStream` with ``async for``
(and may also be awaited, which returns the stream itself).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator, Iterator
from typing import Any, Generic, TypeVar

from google.genai import types

from greycloud._responses import chunk_text, finish_reason, merge_parts
from greycloud.errors import StreamInterruptedError
from greycloud.quota_errors import QuotaDetails

Item = TypeVar("Item", str, types.GenerateContentResponse)
"""What a stream yields: text (the default) or whole response chunks."""


class StreamState:
    """What a stream has delivered so far.

    With ``return_chunks`` every chunk is delivered whole (so a stream is
    retried only before its first chunk); otherwise only chunks' text is, and
    a stream may be retried until its first text.
    """

    def __init__(self, *, return_chunks: bool = False) -> None:
        self.return_chunks = return_chunks
        self.pieces: list[str] = []
        self.usage_metadata: types.GenerateContentResponseUsageMetadata | None = None
        self.finish_reason: str | None = None
        self.model_version: str | None = None
        self.turn_parts: list[types.Part] = []
        """The model's parts in the current attempt of the current round."""
        self.function_calling_history: list[types.Content] | None = None
        """Set when Python functions ran: the conversation before the last round."""

    def begin_attempt(self) -> None:
        """A stream (a first one, a retry, or the next function-calling round) starts:
        what it reports replaces what the last one did."""
        self.turn_parts.clear()
        self.usage_metadata = None

    def model_turn(self) -> types.Content:
        """The model's turn the current round streamed, its texts joined."""
        return types.Content(role="model", parts=merge_parts(self.turn_parts))

    @property
    def text(self) -> str:
        """All text yielded so far."""
        return "".join(self.pieces)

    def absorb(self, chunk: types.GenerateContentResponse) -> Any:
        """Record ``chunk``'s metadata; return what to deliver of it (None: nothing).

        That is its text (when it has any), or the chunk itself with ``return_chunks``.
        """
        if chunk.usage_metadata is not None:
            self.usage_metadata = chunk.usage_metadata
        self.finish_reason = finish_reason(chunk) or self.finish_reason
        self.model_version = chunk.model_version or self.model_version
        if chunk.candidates and chunk.candidates[0].content is not None:
            self.turn_parts.extend(chunk.candidates[0].content.parts or ())
        if self.return_chunks:
            return chunk
        return chunk_text(chunk) or None

    def delivered(self, item: Item) -> Item:
        """Note that ``item`` (text or a chunk) went to the caller; returns it."""
        self.pieces.append(item if isinstance(item, str) else chunk_text(item))
        return item

    def interrupted(
        self, cause: BaseException, *, quota: QuotaDetails | None = None
    ) -> StreamInterruptedError:
        """The error for a stream that broke after delivering text."""
        text = self.text
        return StreamInterruptedError(
            f"The stream broke after {len(text)} characters ({type(cause).__name__}: {cause}). "
            "The text so far is in .partial_text; it was not retried to avoid repeating it.",
            partial_text=text,
            cause=cause,
            quota=quota,
        )


class _StreamAttributes:
    _state: StreamState

    @property
    def text(self) -> str:
        """All text yielded so far."""
        return self._state.text

    @property
    def usage_metadata(self) -> types.GenerateContentResponseUsageMetadata | None:
        """Usage reported by the last chunk that carried it."""
        return self._state.usage_metadata

    @property
    def finish_reason(self) -> str | None:
        """Why generation stopped (e.g. ``"STOP"``, ``"MAX_TOKENS"``), once known."""
        return self._state.finish_reason

    @property
    def model_version(self) -> str | None:
        """The model version the server reported."""
        return self._state.model_version

    @property
    def automatic_function_calling_history(self) -> list[types.Content] | None:
        """When Python functions in ``tools`` ran: the turns sent before the last round
        (as on a response), once the stream has ended."""
        return self._state.function_calling_history


class TextStream(_StreamAttributes, Iterator[Item], Generic[Item]):
    """Iterator of text chunks (or, with ``return_chunks=True``, of
    `GenerateContentResponse` chunks) from a streaming generate call."""

    def __init__(self, state: StreamState, chunks: Generator[Item, None, None]):
        self._state = state
        self._chunks: Generator[Item, None, None] = chunks

    def __iter__(self) -> TextStream[Item]:
        return self

    def __next__(self) -> Item:
        return next(self._chunks)

    def close(self) -> None:
        """Stop the stream and close the HTTP response."""
        self._chunks.close()

    def __enter__(self) -> TextStream[Item]:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class AsyncTextStream(_StreamAttributes, AsyncIterator[Item], Generic[Item]):
    """Async iterator of text chunks (or, with ``return_chunks=True``, of
    `GenerateContentResponse` chunks); holds its rate-limiter slot until closed."""

    def __init__(self, state: StreamState, chunks: Any):
        self._state = state
        self._chunks: Any = chunks

    def __aiter__(self) -> AsyncTextStream[Item]:
        return self

    async def __anext__(self) -> Item:
        return await self._chunks.__anext__()

    async def aclose(self) -> None:
        """Stop the stream, close the HTTP response and free the limiter slot."""
        await self._chunks.aclose()

    async def __aenter__(self) -> AsyncTextStream[Item]:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    def __await__(self) -> Generator[Any, None, AsyncTextStream[Item]]:
        # `await client.generate_with_retry(..., streaming=True)` reads naturally too.
        if False:  # pragma: no cover - makes this a generator function
            yield
        return self
