"""Building generate/stream/count response payloads."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
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
from greycloud.emulator.tool_answers import ToolAnswer, tool_answer

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
    tools: ToolAnswer | None = None
    """Function call, code execution parts and grounding (see `tool_answers`)."""
    safety_categories: tuple[str, ...] = ()
    """The request's safety-setting categories: each is rated NEGLIGIBLE."""

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
    tools = tool_answer(body)
    text = response_text(model, prompt.text, config)
    if tools is not None and tools.function_call is not None:
        text = ""
    elif config.get("responseMimeType") == "application/json":
        text = json_answer(config, text, random.Random(text))
    elif tools is not None and tools.lead:
        text = f"{tools.lead} {text}"
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
        output_tokens=count_tokens(text) + _tool_tokens(tools),
        response_id=digest[:22],
        create_time=_now(),
        cached_tokens=cached_tokens,
        tools=tools,
        safety_categories=tuple(
            str(s.get("category")) for s in body.get("safetySettings") or [] if isinstance(s, dict)
        ),
    )


def _tool_tokens(tools: ToolAnswer | None) -> int:
    if tools is None:
        return 0
    return count_tokens(json.dumps([tools.function_call, tools.parts]))


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


def _candidate(
    text: str, finish: str | None, before: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    parts = [*(before or []), {"text": text}] if text or not before else list(before)
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish is not None:
        candidate["finishReason"] = finish
    return candidate


def _leading_parts(answer: Answer) -> list[dict[str, Any]]:
    """Parts before the text: the function call, or code execution."""
    if answer.tools is None:
        return []
    if answer.tools.function_call is not None:
        return [{"functionCall": answer.tools.function_call}]
    return list(answer.tools.parts)


def _ground(answer: Answer, candidate: dict[str, Any]) -> dict[str, Any]:
    """Add the grounding metadata and safety ratings the whole answer gets."""
    if answer.tools is not None and answer.tools.grounding is not None:
        candidate["groundingMetadata"] = answer.tools.grounding
    if answer.safety_categories:
        candidate["safetyRatings"] = [
            {"category": category, "probability": "NEGLIGIBLE", "blocked": False}
            for category in answer.safety_categories
        ]
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
    candidate = _candidate(answer.text, answer.finish_reason, _leading_parts(answer))
    payload = _envelope(answer, _ground(answer, candidate))
    payload["usageMetadata"] = usage(answer)
    return payload


def stream_payloads(answer: Answer, tokens_per_chunk: int) -> list[dict[str, Any]]:
    """SSE event bodies; the texts join to ``answer.text``, the last has usage.

    A function call or code execution parts come in the first event; grounding
    metadata and safety ratings in the last.
    """
    chunks = split_chunks(answer.text, tokens_per_chunk) if answer.text else [""]
    leading = _leading_parts(answer)
    events = [
        _envelope(answer, _candidate(c, None, leading if i == 0 else None))
        for i, c in enumerate(chunks)
    ]
    last = events[-1]
    last["candidates"][0]["finishReason"] = answer.finish_reason
    _ground(answer, last["candidates"][0])
    last["usageMetadata"] = usage(answer)
    return events


def count_payload(body: dict[str, Any]) -> tuple[dict[str, int], int]:
    """``countTokens`` response body and the prompt token count."""
    prompt = prompt_info(body)
    billable = len(re.sub(r"\s", "", prompt.text))
    return {"totalTokens": prompt.tokens, "totalBillableCharacters": billable}, prompt.tokens
