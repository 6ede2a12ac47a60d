"""`GreyCloudClient`: synchronous Gemini generation on Vertex AI."""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterator
from typing import Any, Literal, TypeVar, overload

from google import genai
from google.genai import types
from typing_extensions import Unpack

from greycloud import retry
from greycloud._base import ClientCore
from greycloud._function_calling import generate_rounds, refuse_async_functions, stream_rounds
from greycloud._option_types import GenerationOptions
from greycloud._request import (
    ContentsInput,
    PreparedRequest,
    count_tokens_config,
)
from greycloud._responses import fill_parsed
from greycloud.auth import client_from_config
from greycloud.chats import Chats
from greycloud.config import GreyCloudConfig
from greycloud.embeddings import EmbedContentsInput, embed_sync, prepare_embedding
from greycloud.errors import GreyCloudError
from greycloud.streaming import StreamState, TextStream

T = TypeVar("T")


class GreyCloudClient(ClientCore):
    """Synchronous client. Same method names and options as `GreyCloudAsyncClient`.

    ``generate_content`` and ``generate_content_stream`` make one attempt;
    ``generate_with_retry`` retries what can succeed on retry and re-creates
    credentials after a 401. It is not rate limited (nor is ``quota_url`` used):
    to stay within a quota, alone or shared, use `GreyCloudAsyncClient`.
    Python functions in ``tools`` are called automatically (each model round
    trip one attempt, or one retried call); ``chats.create(...)`` starts a chat.
    """

    def __init__(
        self,
        config: GreyCloudConfig | None = None,
        *,
        retry_policy: retry.RetryPolicy | None = None,
    ) -> None:
        super().__init__(config, retry_policy)
        self._client: genai.Client | None = None
        self._client_lock = threading.Lock()

    @property
    def chats(self) -> Chats:
        """``client.chats.create(...)``: multi-turn chats whose turns go through this client."""
        return Chats(self)

    @property
    def client(self) -> genai.Client:
        """The underlying `genai.Client` (created on first use)."""
        with self._client_lock:
            if self._client is None:
                self._client = client_from_config(self.config)
            return self._client

    def ensure_client(self) -> genai.Client:
        """The underlying `genai.Client` (the same as `.client`; twin of the async method)."""
        return self.client

    def reauthenticate(self) -> None:
        """Drop the current credentials and build a fresh `genai.Client`."""
        fresh = client_from_config(self.config)
        with self._client_lock:
            self._client = fresh

    def close(self) -> None:
        """Close the HTTP connections of the underlying client."""
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def __enter__(self) -> GreyCloudClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- generation ------------------------------------------------------

    def generate_content(
        self,
        contents: ContentsInput,
        **options: Unpack[GenerationOptions],
    ) -> types.GenerateContentResponse:
        """Generate a response in one attempt. Options override the config for this call."""
        prepared = self._prepare(contents, **options)
        return self._generate(prepared, self._policy(0))

    @overload
    def generate_content_stream(
        self,
        contents: ContentsInput,
        *,
        return_chunks: Literal[False] = ...,
        **options: Unpack[GenerationOptions],
    ) -> TextStream[str]: ...

    @overload
    def generate_content_stream(
        self,
        contents: ContentsInput,
        *,
        return_chunks: Literal[True],
        **options: Unpack[GenerationOptions],
    ) -> TextStream[types.GenerateContentResponse]: ...

    def generate_content_stream(
        self,
        contents: ContentsInput,
        *,
        return_chunks: bool = False,
        **options: Unpack[GenerationOptions],
    ) -> TextStream[Any]:
        """Stream the response's text chunks as they arrive (one attempt).

        With ``return_chunks=True`` each `GenerateContentResponse` chunk is
        yielded whole (function calls, grounding metadata, safety ratings,
        usage). Python functions in ``tools`` run between rounds, each round
        a stream of its own.
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
    ) -> types.GenerateContentResponse: ...

    @overload
    def generate_with_retry(
        self,
        contents: ContentsInput,
        max_retries: int = ...,
        *,
        streaming: Literal[True],
        return_chunks: Literal[False] = ...,
        **options: Unpack[GenerationOptions],
    ) -> TextStream[str]: ...

    @overload
    def generate_with_retry(
        self,
        contents: ContentsInput,
        max_retries: int = ...,
        *,
        streaming: Literal[True],
        return_chunks: Literal[True],
        **options: Unpack[GenerationOptions],
    ) -> TextStream[types.GenerateContentResponse]: ...

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
    ) -> TextStream[Any]: ...

    def generate_with_retry(
        self,
        contents: ContentsInput,
        max_retries: int = 5,
        streaming: bool = False,
        *,
        return_chunks: bool = False,
        **options: Unpack[GenerationOptions],
    ) -> types.GenerateContentResponse | TextStream[Any]:
        """Generate with retries, backoff and re-authentication.

        With ``streaming=True`` returns a `TextStream` (of text, or with
        ``return_chunks=True`` of response chunks). A stream is retried only
        until its first text chunk (first chunk, with ``return_chunks``); a
        later break raises `StreamInterruptedError` carrying the text already
        yielded. With Python functions in ``tools`` every model round trip of
        automatic function calling is retried the same way.
        """
        prepared = self._prepare(contents, **options)
        policy = self._policy(max_retries)
        if streaming:
            return self._stream(prepared, policy, return_chunks)
        return self._generate(prepared, policy)

    def count_tokens(
        self,
        contents: ContentsInput,
        system_instruction: str | None = None,
        model: str | None = None,
        *,
        fallback: bool = True,
    ) -> int:
        """Tokens in ``contents`` (plus ``system_instruction``) according to the API.

        If the API call fails and ``fallback`` is true, returns the estimate of
        `greycloud.tokens` (about four characters per token, never 0 for
        non-empty input); with ``fallback=False`` the error is raised.
        """
        prepared = self._prepare(contents, model=model)
        try:
            result = self.client.models.count_tokens(
                model=prepared.model,
                contents=prepared.sdk_contents,
                config=count_tokens_config(system_instruction),
            )
        except Exception as exc:
            if not fallback:
                raise self._translate(exc) from exc
            estimate = self._prepare(contents, model=model, system_instruction=system_instruction)
            return self._count_fallback(estimate, exc)
        return int(result.total_tokens or 0)

    # -- embeddings ------------------------------------------------------

    def embed_content(
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

        ``model`` defaults to ``config.embedding_model``; ``options`` are the other
        fields of google-genai's `EmbedContentConfig` (``title``, ``auto_truncate``,
        ...), validated by it. The inputs are sent in as few requests as the
        model's per-request limits allow (`greycloud.rules.embedding_limits`), one
        after another, each retried like `generate_with_retry`.
        """
        prepared = prepare_embedding(
            self.config,
            contents,
            model=model,
            task_type=task_type,
            output_dimensionality=output_dimensionality,
            options=options,
        )
        return embed_sync(self, prepared, self._policy(max_retries))

    # -- internals -------------------------------------------------------

    def _on_retry(self, exc: BaseException, _delay: float) -> None:
        if retry.needs_reauth(exc):
            self.reauthenticate()

    def _generate(
        self, prepared: PreparedRequest, policy: retry.RetryPolicy
    ) -> types.GenerateContentResponse:
        """One answer; with Python functions in ``tools``, after running the calls."""
        if not prepared.calling.automatic:
            return fill_parsed(prepared, self._generate_once(prepared, policy))
        refuse_async_functions(prepared)
        response = generate_rounds(prepared, lambda request: self._generate_once(request, policy))
        return fill_parsed(prepared, response)

    def _generate_once(
        self, prepared: PreparedRequest, policy: retry.RetryPolicy
    ) -> types.GenerateContentResponse:
        def attempt() -> types.GenerateContentResponse:
            return self.client.models.generate_content(
                model=prepared.model, contents=prepared.sdk_contents, config=prepared.config
            )

        return self._call(policy, attempt)

    def _call(self, policy: retry.RetryPolicy, attempt: Callable[[], T]) -> T:
        """``attempt()`` under ``policy``, its errors translated."""
        if policy.max_retries == 0:  # one attempt: no retry loop to set up per call
            try:
                return attempt()
            except Exception as exc:
                raise self._translate(exc) from exc
        retrying = retry.sync_retrying(policy, self._on_retry)
        try:
            return retrying(attempt)
        except Exception as exc:
            raise self._translate(exc, retry.attempts_made(retrying)) from exc

    def _stream(
        self, prepared: PreparedRequest, policy: retry.RetryPolicy, return_chunks: bool = False
    ) -> TextStream[Any]:
        state = StreamState(return_chunks=return_chunks)
        if not prepared.calling.automatic:
            return TextStream(state, self._stream_chunks(prepared, policy, state))
        refuse_async_functions(prepared)
        rounds = stream_rounds(
            prepared, state, lambda request: self._stream_chunks(request, policy, state)
        )
        return TextStream(state, rounds)

    def _open_stream(
        self, prepared: PreparedRequest, state: StreamState
    ) -> tuple[Iterator[types.GenerateContentResponse], Any]:
        """Start a stream and read up to its first item to deliver (the retryable part)."""
        state.begin_attempt()
        upstream = iter(
            self.client.models.generate_content_stream(
                model=prepared.model, contents=prepared.sdk_contents, config=prepared.config
            )
        )
        try:
            for chunk in upstream:
                item = state.absorb(chunk)
                if item is not None:
                    return upstream, item
        except BaseException:
            _close(upstream)
            raise
        return upstream, None

    def _stream_chunks(
        self, prepared: PreparedRequest, policy: retry.RetryPolicy, state: StreamState
    ) -> Generator[Any, None, None]:
        retrying = retry.sync_retrying(policy, self._on_retry)
        try:
            upstream, first = retrying(self._open_stream, prepared, state)
        except Exception as exc:
            raise self._translate(exc, retry.attempts_made(retrying)) from exc
        try:
            if first is None:
                return
            yield state.delivered(first)
            try:
                for chunk in upstream:
                    item = state.absorb(chunk)
                    if item is not None:
                        yield state.delivered(item)
            except GreyCloudError:
                raise
            except Exception as exc:
                raise self._stream_broke(state, exc) from exc
        finally:
            _close(upstream)


def _close(iterator: Any) -> None:
    close = getattr(iterator, "close", None)
    if close is not None:
        close()
