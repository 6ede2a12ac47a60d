"""Embeddings: one request plan shared by the sync and async clients.

`prepare_embedding` turns ``embed_content``'s arguments into the model, the
`EmbedContentConfig` (validated by google-genai's own model) and the inputs cut
into batches that fit one Vertex AI request each (`greycloud.rules.embedding_limits`:
at most ``max_inputs`` inputs and ``max_tokens`` estimated input tokens). Each
client sends every batch through its retry policy (the async one also through
its rate limiter) and `merge_responses` joins the answers in input order.

Should the API still refuse a batch as too large (its token count is not our
estimate's), `split_if_too_large` halves it and the halves are sent instead.
`embed_sync` / `embed_async` do the sending for the two clients.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

from google.genai import types
from pydantic import ValidationError

from greycloud._request import contents_texts, estimate_request_tokens, short_model_name
from greycloud.config import DEFAULT_EMBEDDING_MODEL, GreyCloudConfig
from greycloud.errors import APICallError, GreyCloudError
from greycloud.rules import (
    POSITIVE,
    TOO_MANY_INPUT_TOKENS,
    TOO_MANY_INSTANCES,
    EmbeddingLimits,
    embedding_limits,
    uses_embed_content_api,
)

if TYPE_CHECKING:
    from greycloud.async_client import GreyCloudAsyncClient
    from greycloud.client import GreyCloudClient
    from greycloud.retry import RetryPolicy

EmbedItem = str | types.Content | types.Part | Mapping[str, Any]
EmbedContentsInput = EmbedItem | Sequence[EmbedItem]
"""One input (a string, Content, Part or REST-shaped dict) or a list of inputs."""

T = TypeVar("T")

# Options the client owns: the HTTP layer (timeouts, retries) is set from the config.
_RESERVED_OPTIONS = frozenset({"http_options"})


@dataclass(frozen=True)
class EmbedBatch:
    """Inputs sent in one request; ``start`` is the index of the first in the call."""

    start: int
    inputs: list[str] | list[types.Content]
    estimated_tokens: int


@dataclass(frozen=True)
class PreparedEmbedding:
    """Everything an ``embed_content`` call sends, built once."""

    model: str
    config: types.EmbedContentConfig | None
    batches: list[EmbedBatch]


def embed_options() -> list[str]:
    """The keyword options ``embed_content`` accepts besides model and max_retries."""
    return [n for n in types.EmbedContentConfig.model_fields if n not in _RESERVED_OPTIONS]


def build_embed_config(
    task_type: str | None, output_dimensionality: int | None, options: Mapping[str, Any]
) -> types.EmbedContentConfig | None:
    """`EmbedContentConfig` from the options, validated by google-genai; None when empty."""
    POSITIVE.check("output_dimensionality", output_dimensionality)
    unknown = sorted(set(options) - set(embed_options()))
    if unknown:
        accepted = ", ".join(["model", *embed_options(), "max_retries"])
        raise TypeError(f"unknown option {unknown[0]!r}: embed_content accepts {accepted}.")
    given = {
        "task_type": task_type,
        "output_dimensionality": output_dimensionality,
        **options,
    }
    given = {name: value for name, value in given.items() if value is not None}
    if not given:
        return None
    try:
        return types.EmbedContentConfig(**given)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        raise ValueError(f"invalid embedding option ({problems}).") from None


def _as_content(item: EmbedItem, index: int) -> types.Content:
    if isinstance(item, str):
        if not item.strip():
            raise ValueError(f"contents[{index}] is empty: every input needs text to embed.")
        return types.Content(role="user", parts=[types.Part.from_text(text=item)])
    if isinstance(item, types.Content):
        return item
    if isinstance(item, types.Part):
        return types.Content(role="user", parts=[item])
    if isinstance(item, Mapping):
        try:
            if "parts" in item:
                return types.Content.model_validate(dict(item))
            return types.Content(role="user", parts=[types.Part.model_validate(dict(item))])
        except ValidationError as exc:
            raise ValueError(f"contents[{index}] is not a valid Content or Part: {exc}") from None
    raise TypeError(
        f"contents[{index}] has type {type(item).__name__}: use str, types.Content, "
        "types.Part or a dict."
    )


def _items(contents: EmbedContentsInput) -> list[EmbedItem]:
    if isinstance(contents, (str, Mapping, types.Content, types.Part)):
        return [contents]
    if contents is None:
        raise ValueError("contents is empty: pass a string or a list of inputs to embed.")
    items = list(contents)
    if not items:
        raise ValueError("contents is empty: pass a string or a list of inputs to embed.")
    return items


def _text_only(content: types.Content, index: int, model: str) -> str:
    texts, others = contents_texts([content])
    if others or not any(t.strip() for t in texts):
        raise ValueError(
            f"contents[{index}] is not text: {model} embeds text only (use a multimodal "
            "model such as gemini-embedding-2 for images, audio or documents)."
        )
    return "\n".join(texts)


def plan_batches(estimates: Sequence[int], limits: EmbeddingLimits) -> list[range]:
    """Consecutive index ranges of inputs, each within ``limits`` (by estimated tokens).

    An input alone over ``max_tokens`` still gets a batch of its own (the API
    truncates inputs to ``max_input_tokens`` unless told not to).
    """
    batches: list[range] = []
    start, tokens = 0, 0
    for index, estimate in enumerate(estimates):
        count = index - start
        over_tokens = limits.max_tokens is not None and tokens + estimate > limits.max_tokens
        if count and (count >= limits.max_inputs or over_tokens):
            batches.append(range(start, index))
            start, tokens = index, 0
        tokens += estimate
    if start < len(estimates):
        batches.append(range(start, len(estimates)))
    return batches


def prepare_embedding(
    config: GreyCloudConfig,
    contents: EmbedContentsInput,
    *,
    model: str | None,
    task_type: str | None,
    output_dimensionality: int | None,
    options: Mapping[str, Any],
    token_budget: int | None = None,
) -> PreparedEmbedding:
    """Model, config and batches for ``embed_content`` (see the module docstring).

    Text embedding models (``:predict``) get each input as its text; Gemini
    embedding models get each input as one `Content`, so every input gives
    exactly one embedding. ``token_budget`` caps a batch's estimated tokens
    below the API's limit (the async client passes its tokens-per-minute limit,
    so no batch is too large for the rate limiter).
    """
    name = short_model_name(model or config.embedding_model or DEFAULT_EMBEDDING_MODEL)
    embed_config = build_embed_config(task_type, output_dimensionality, options)
    contents_list = [_as_content(item, i) for i, item in enumerate(_items(contents))]
    estimates = [estimate_request_tokens([c]) for c in contents_list]
    inputs: list[str] | list[types.Content]
    if uses_embed_content_api(name):
        inputs = contents_list
    else:
        inputs = [_text_only(c, i, name) for i, c in enumerate(contents_list)]
    batches = [
        EmbedBatch(
            start=span.start,
            inputs=inputs[span.start : span.stop],
            estimated_tokens=sum(estimates[span.start : span.stop]),
        )
        for span in plan_batches(estimates, _budgeted(embedding_limits(name), token_budget))
    ]
    return PreparedEmbedding(model=name, config=embed_config, batches=batches)


def _budgeted(limits: EmbeddingLimits, token_budget: int | None) -> EmbeddingLimits:
    if token_budget is None or (limits.max_tokens or token_budget + 1) <= token_budget:
        return limits
    return replace(limits, max_tokens=token_budget)


def split_if_too_large(batch: EmbedBatch, error: BaseException) -> list[EmbedBatch] | None:
    """Two halves of ``batch`` if the API refused it as too large (a 400 saying so), else None."""
    if len(batch.inputs) < 2 or not isinstance(error, GreyCloudError) or error.code != 400:
        return None
    message = (error.message or "").lower()
    if TOO_MANY_INSTANCES not in message and TOO_MANY_INPUT_TOKENS not in message:
        return None
    middle = len(batch.inputs) // 2
    share = batch.estimated_tokens // len(batch.inputs)
    return [
        EmbedBatch(batch.start, batch.inputs[:middle], share * middle),
        EmbedBatch(
            batch.start + middle,
            batch.inputs[middle:],
            batch.estimated_tokens - share * middle,
        ),
    ]


def used_tokens(response: types.EmbedContentResponse, fallback: int) -> int:
    """Input tokens the response says it embedded, else ``fallback``."""
    counts = [
        e.statistics.token_count if e.statistics is not None else None
        for e in response.embeddings or ()
    ]
    if counts and all(c is not None for c in counts):
        return int(sum(c for c in counts if c is not None))
    usage = response.usage_metadata
    if usage is not None and usage.prompt_token_count is not None:
        return usage.prompt_token_count
    return fallback


def merge_responses(responses: Sequence[types.EmbedContentResponse]) -> types.EmbedContentResponse:
    """One response with every batch's embeddings in order, and their metadata summed."""
    embeddings = [e for r in responses for e in r.embeddings or ()]
    billable = [
        r.metadata.billable_character_count
        for r in responses
        if r.metadata is not None and r.metadata.billable_character_count is not None
    ]
    prompt_tokens = [
        r.usage_metadata.prompt_token_count
        for r in responses
        if r.usage_metadata is not None and r.usage_metadata.prompt_token_count is not None
    ]
    truncated = [r.truncated for r in responses if r.truncated is not None]
    return types.EmbedContentResponse(
        embeddings=embeddings,
        metadata=types.EmbedContentMetadata(billable_character_count=sum(billable))
        if billable
        else None,
        usage_metadata=types.UsageMetadata(
            prompt_token_count=sum(prompt_tokens), total_token_count=sum(prompt_tokens)
        )
        if prompt_tokens
        else None,
        truncated=any(truncated) if truncated else None,
    )


async def gather_in_order(awaitables: Sequence[Awaitable[T]]) -> list[T]:
    """Results of ``awaitables`` run concurrently, in order; the first failure cancels the rest."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


# -- sending: each client's retry-and-translate path (`_call`), batch by batch ---------


def embed_sync(
    client: GreyCloudClient, prepared: PreparedEmbedding, policy: RetryPolicy
) -> types.EmbedContentResponse:
    """Send every batch in turn through the sync client; the merged response."""
    return merge_responses(
        [r for batch in prepared.batches for r in _send_sync(client, prepared, batch, policy)]
    )


def _send_sync(
    client: GreyCloudClient, prepared: PreparedEmbedding, batch: EmbedBatch, policy: RetryPolicy
) -> list[types.EmbedContentResponse]:
    def attempt() -> types.EmbedContentResponse:
        return client.client.models.embed_content(
            model=prepared.model, contents=batch.inputs, config=prepared.config
        )

    try:
        return [client._call(policy, attempt)]
    except APICallError as exc:
        halves = split_if_too_large(batch, exc)
        if halves is None:
            raise
    return [r for half in halves for r in _send_sync(client, prepared, half, policy)]


async def embed_async(
    client: GreyCloudAsyncClient, prepared: PreparedEmbedding, policy: RetryPolicy
) -> types.EmbedContentResponse:
    """Send the batches concurrently through the async client (each admitted by its
    rate limiter); the merged response, in input order."""
    results = await gather_in_order(
        [_send_async(client, prepared, batch, policy) for batch in prepared.batches]
    )
    return merge_responses([r for result in results for r in result])


async def _send_async(
    client: GreyCloudAsyncClient,
    prepared: PreparedEmbedding,
    batch: EmbedBatch,
    policy: RetryPolicy,
) -> list[types.EmbedContentResponse]:
    async def attempt() -> types.EmbedContentResponse:
        return await client._send_admitted(
            batch.estimated_tokens,
            lambda genai_client: genai_client.aio.models.embed_content(
                model=prepared.model, contents=batch.inputs, config=prepared.config
            ),
            lambda reservation, response: reservation.settle(
                used_tokens(response, batch.estimated_tokens)
            ),
        )

    try:
        return [await client._call(policy, attempt)]
    except APICallError as exc:
        halves = split_if_too_large(batch, exc)
        if halves is None:
            raise
    results = await gather_in_order([_send_async(client, prepared, h, policy) for h in halves])
    return [r for result in results for r in result]
