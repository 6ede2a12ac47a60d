"""Building generate/stream/count response payloads."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import random
import re
from dataclasses import dataclass
from typing import Any

from greycloud.emulator.schema import json_answer
from greycloud.emulator.text import (
    count_tokens,
    prompt_info,
    response_text,
    split_chunks,
    truncate_tokens,
)

_ids = itertools.count(1)


@dataclass(frozen=True)
class Answer:
    """A fully computed model answer."""

    model: str
    text: str
    finish_reason: str
    prompt_tokens: int
    output_tokens: int
    response_id: str
    create_time: str
    cached_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Prompt plus output tokens."""
        return self.prompt_tokens + self.output_tokens


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def build_answer(model: str, body: dict[str, Any], cached_tokens: int = 0) -> Answer:
    """Compute the deterministic answer to a generate request.

    ``body`` already has any cached content merged in; ``cached_tokens`` of its
    prompt came from the cache (reported as ``cachedContentTokenCount``).
    """
    prompt = prompt_info(body)
    config = body.get("generationConfig") or {}
    text = response_text(model, prompt.text, config)
    if config.get("responseMimeType") == "application/json":
        text = json_answer(config, text, random.Random(text))
    finish = "STOP"
    limit = config.get("maxOutputTokens")
    if isinstance(limit, int) and count_tokens(text) > limit:
        text = truncate_tokens(text, limit)
        finish = "MAX_TOKENS"
    digest = hashlib.sha256(f"{model}\x00{prompt.text}\x00{next(_ids)}".encode()).hexdigest()
    return Answer(
        model=model,
        text=text,
        finish_reason=finish,
        prompt_tokens=prompt.tokens,
        output_tokens=count_tokens(text),
        response_id=digest[:22],
        create_time=_now(),
        cached_tokens=cached_tokens,
    )


def usage(answer: Answer) -> dict[str, int]:
    """``usageMetadata`` for a complete answer."""
    metadata = {
        "promptTokenCount": answer.prompt_tokens,
        "candidatesTokenCount": answer.output_tokens,
        "totalTokenCount": answer.total_tokens,
    }
    if answer.cached_tokens:
        metadata["cachedContentTokenCount"] = answer.cached_tokens
    return metadata


def _candidate(text: str, finish: str | None) -> dict[str, Any]:
    candidate: dict[str, Any] = {
        "content": {"role": "model", "parts": [{"text": text}]},
        "index": 0,
    }
    if finish is not None:
        candidate["finishReason"] = finish
    return candidate


def _envelope(answer: Answer, candidate: dict[str, Any]) -> dict[str, Any]:
    return {
        "candidates": [candidate],
        "modelVersion": answer.model,
        "createTime": answer.create_time,
        "responseId": answer.response_id,
    }


def generate_payload(answer: Answer) -> dict[str, Any]:
    """Body of a ``generateContent`` response."""
    payload = _envelope(answer, _candidate(answer.text, answer.finish_reason))
    payload["usageMetadata"] = usage(answer)
    return payload


def stream_payloads(answer: Answer, tokens_per_chunk: int) -> list[dict[str, Any]]:
    """SSE event bodies; the texts join to ``answer.text``, the last has usage."""
    chunks = split_chunks(answer.text, tokens_per_chunk)
    events = [_envelope(answer, _candidate(c, None)) for c in chunks]
    last = events[-1]
    last["candidates"][0]["finishReason"] = answer.finish_reason
    last["usageMetadata"] = usage(answer)
    return events


def count_payload(body: dict[str, Any]) -> tuple[dict[str, int], int]:
    """``countTokens`` response body and the prompt token count."""
    prompt = prompt_info(body)
    billable = len(re.sub(r"\s", "", prompt.text))
    return {"totalTokens": prompt.tokens, "totalBillableCharacters": billable}, prompt.tokens
