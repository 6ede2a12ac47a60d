"""Embedding actions: ``:predict`` (text-embedding models), ``:embedContent`` and
``:batchEmbedContents`` (Gemini embedding models), in the shapes google-genai 3.x
sends and reads on Vertex AI.

Vectors are deterministic: the sum of one pseudo-random vector per lower-cased
token (from SHAKE-256 of model and token), L2-normalised; so equal texts embed
equally and texts sharing words are closer, whatever their task types (a query
and a document embedded for retrieval can be compared, as with Google's models).
``outputDimensionality`` keeps the first components (then normalises again), as
Matryoshka embeddings do. The per-request limits are the library's
(`greycloud.rules.embedding_limits`), refused with Google's 400 wording; quota is
charged like any other call.
"""

from __future__ import annotations

import array
import asyncio
import functools
import hashlib
import math
import re
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web

from greycloud.emulator.errors import ApiError, quota_error
from greycloud.emulator.state import EmulatorState, RecordedRequest
from greycloud.emulator.text import TOKEN_RE, count_tokens, truncate_tokens
from greycloud.emulator.validation import check_model
from greycloud.rules import EMBEDDING_LIMITS_URL, embedding_limits

EMBED_ACTIONS = frozenset({"predict", "embedContent", "batchEmbedContents"})
TASK_TYPES = frozenset(
    {
        "RETRIEVAL_QUERY",
        "RETRIEVAL_DOCUMENT",
        "SEMANTIC_SIMILARITY",
        "CLASSIFICATION",
        "CLUSTERING",
        "QUESTION_ANSWERING",
        "FACT_VERIFICATION",
        "CODE_RETRIEVAL_QUERY",
    }
)


class ModelCallLike(Protocol):
    """What the model routes parsed from the URL (`model_routes.ModelCall`)."""

    @property
    def model(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def resource(self) -> str: ...


@dataclass(frozen=True)
class EmbedInput:
    """One text to embed and its per-input settings."""

    text: str
    task_type: str | None
    title: str | None


@dataclass(frozen=True)
class EmbedParameters:
    """Request-wide settings."""

    output_dimensionality: int | None
    auto_truncate: bool


def default_dimensions(model: str) -> int:
    """Full vector length: 3072 for Gemini embedding models, 768 for text-embedding ones."""
    return 3072 if "gemini" in model else 768


@functools.lru_cache(maxsize=65536)
def _token_vector(model: str, token: str, dims: int) -> array.array[int]:
    digest = hashlib.shake_256(f"{model}\0{token}".encode()).digest(dims * 2)
    return array.array("h", digest)


def embedding_vector(model: str, text: str, dims: int) -> list[float]:
    """The emulator's embedding of ``text``: deterministic, unit length, ``dims`` long."""
    sums = [0.0] * dims
    for token in TOKEN_RE.findall(text.lower()) or [text]:
        for i, value in enumerate(_token_vector(model, token, dims)):
            sums[i] += value
    norm = math.sqrt(sum(v * v for v in sums)) or 1.0
    return [round(v / norm, 7) for v in sums]


def _text_of(content: Any, where: str) -> str:
    if not isinstance(content, dict) or not isinstance(content.get("parts"), list):
        raise ApiError(400, f"{where} must be a Content with parts.")
    texts = [p.get("text") for p in content["parts"] if isinstance(p, dict)]
    strings = [t for t in texts if isinstance(t, str)]
    if not texts or len(strings) != len(texts):
        raise ApiError(400, f"{where} must contain text parts.")
    return "\n".join(strings)


def _settings(config: Any) -> dict[str, Any]:
    return config if isinstance(config, dict) else {}


def parse_embed_request(
    action: str, body: dict[str, Any]
) -> tuple[list[EmbedInput], EmbedParameters]:
    """The inputs and settings of a ``predict`` / ``embedContent`` / ``batchEmbedContents`` body."""
    if action == "predict":
        instances = body.get("instances")
        if not isinstance(instances, list) or not instances:
            raise ApiError(400, "instances must be a non-empty list.")
        inputs = []
        for i, instance in enumerate(instances):
            if not isinstance(instance, dict) or not isinstance(instance.get("content"), str):
                raise ApiError(400, f"instances[{i}].content must be a string.")
            inputs.append(
                EmbedInput(instance["content"], instance.get("task_type"), instance.get("title"))
            )
        parameters = _settings(body.get("parameters"))
    elif action == "embedContent":
        config = {**body, **_settings(body.get("embedContentConfig"))}
        inputs = [
            EmbedInput(
                _text_of(body.get("content"), "content"),
                config.get("taskType"),
                config.get("title"),
            )
        ]
        parameters = config
    else:
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            raise ApiError(400, "requests must be a non-empty list.")
        inputs, parameters = [], {}
        for i, item in enumerate(requests):
            if not isinstance(item, dict):
                raise ApiError(400, f"requests[{i}] must be an EmbedContentRequest.")
            config = {**item, **_settings(item.get("embedContentConfig"))}
            inputs.append(
                EmbedInput(
                    _text_of(item.get("content"), f"requests[{i}].content"),
                    config.get("taskType"),
                    config.get("title"),
                )
            )
            parameters = config
    dims = parameters.get("outputDimensionality")
    auto_truncate = parameters.get("autoTruncate")
    return inputs, EmbedParameters(dims, auto_truncate is not False)


def _check(model: str, inputs: list[EmbedInput], parameters: EmbedParameters) -> None:
    limits = embedding_limits(model)
    if len(inputs) > limits.max_inputs:
        raise ApiError(
            400,
            "Unable to submit request because it included too many instances. Reduce the "
            f"number of instances and try again. Learn more: {EMBEDDING_LIMITS_URL}: "
            f"{model} accepts at most {limits.max_inputs} instance(s) per request but the "
            f"request has {len(inputs)}.",
        )
    full = default_dimensions(model)
    dims = parameters.output_dimensionality
    if dims is not None and (
        not isinstance(dims, int) or isinstance(dims, bool) or not 1 <= dims <= full
    ):
        raise ApiError(
            400, f"outputDimensionality must be between 1 and {full} for {model}, got {dims!r}."
        )
    for i, item in enumerate(inputs):
        if not item.text.strip():
            raise ApiError(400, f"The text content of instance {i} is empty.")
        if item.task_type is not None and item.task_type not in TASK_TYPES:
            raise ApiError(
                400,
                f"Invalid task_type {item.task_type!r}: use one of "
                f"{', '.join(sorted(TASK_TYPES))}.",
            )
        if not parameters.auto_truncate and count_tokens(item.text) > limits.max_input_tokens:
            raise ApiError(
                400,
                f"Input of instance {i} has {count_tokens(item.text)} tokens, more than the "
                f"{limits.max_input_tokens} {model} accepts, and autoTruncate is false.",
            )


def _embed(model: str, item: EmbedInput, dims: int, limit: int) -> tuple[dict[str, Any], int]:
    """``{"values", "statistics"}`` of one input and its (truncated) token count."""
    text = truncate_tokens(item.text, limit)
    tokens = count_tokens(text)
    values = embedding_vector(model, text, dims)
    truncated = text != item.text
    return {"values": values, "statistics": {"truncated": truncated, "token_count": tokens}}, tokens


def charge(state: EmulatorState, project: str, tokens: int, model: str, now: float) -> None:
    """Charge a request's tokens to ``project``'s quota, or raise Google's 429."""
    over = state.charge_quota(project, tokens, now=now)
    if over is not None:
        message, details = quota_error(
            over.kind, limit=over.limit, model=model, retry_delay=over.retry_delay
        )
        raise ApiError(429, message, retry_after=state.quota_retry_after, details=details)


async def embed_answer(
    state: EmulatorState,
    call: ModelCallLike,
    body: dict[str, Any],
    record: RecordedRequest,
    *,
    project: str,
) -> web.Response:
    """Validate, charge quota, wait the configured latency, and answer an embedding call."""
    check_model(call.model, call.resource)
    if "embedding" not in call.model:
        raise ApiError(
            400, f"{call.resource} does not support {call.action}: use an embedding model."
        )
    inputs, parameters = parse_embed_request(call.action, body)
    _check(call.model, inputs, parameters)
    limits = embedding_limits(call.model)
    dims = parameters.output_dimensionality or default_dimensions(call.model)
    embedded = [_embed(call.model, item, dims, limits.max_input_tokens) for item in inputs]
    total = sum(tokens for _, tokens in embedded)
    if limits.max_tokens is not None and total > limits.max_tokens:
        raise ApiError(
            400,
            f"Unable to submit request because the input token count is {total} but the model "
            f"supports up to {limits.max_tokens}. Reduce the input token count and try again. "
            f"Learn more: {EMBEDDING_LIMITS_URL}",
        )
    charge(state, project, total, call.model, record.time)
    if state.latency > 0:
        await asyncio.sleep(state.latency)
    usage = {"promptTokenCount": total, "totalTokenCount": total}
    if call.action == "predict":
        billable = sum(len(re.sub(r"\s", "", item.text)) for item in inputs)
        return web.json_response(
            {
                "predictions": [{"embeddings": e} for e, _ in embedded],
                "metadata": {"billableCharacterCount": billable},
            }
        )
    if call.action == "embedContent":
        embedding, _ = embedded[0]
        return web.json_response(
            {
                "embedding": {"values": embedding["values"]},
                "usageMetadata": usage,
                "truncated": embedding["statistics"]["truncated"],
            }
        )
    return web.json_response(
        {"embeddings": [{"values": e["values"]} for e, _ in embedded], "usageMetadata": usage}
    )
