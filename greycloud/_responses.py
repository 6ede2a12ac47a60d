"""Reading responses, shared by the clients and streams: text, finish reason,
`.parsed`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from google.genai import types

if TYPE_CHECKING:
    from greycloud._request import PreparedRequest


def chunk_text(response: types.GenerateContentResponse) -> str:
    """The visible text of one response or stream chunk (thoughts left out)."""
    if not response.candidates:
        return ""
    content = response.candidates[0].content
    if content is None or not content.parts:
        return ""
    return "".join(p.text for p in content.parts if p.text and not p.thought)


def finish_reason(response: types.GenerateContentResponse) -> str | None:
    """The first candidate's finish reason as a plain string, if any."""
    if not response.candidates or response.candidates[0].finish_reason is None:
        return None
    reason = response.candidates[0].finish_reason
    return getattr(reason, "value", None) or str(reason)


def fill_parsed(
    prepared: PreparedRequest, response: types.GenerateContentResponse
) -> types.GenerateContentResponse:
    """``response.parsed`` as the ``response_json_schema`` model, when one was given.

    As google-genai does for ``response_schema``: left as it is when the text
    is not valid for the model.
    """
    if prepared.parse_as is None or not response.text:
        return response
    try:
        response.parsed = prepared.parse_as.model_validate_json(response.text)
    except ValueError:
        pass
    return response


def merge_parts(parts: Iterable[types.Part]) -> list[types.Part]:
    """A streamed turn's parts with adjacent texts (of the same kind) joined."""
    merged: list[types.Part] = []
    for part in parts:
        last = merged[-1] if merged else None
        if (
            last is not None
            and part.text is not None
            and last.text is not None
            and bool(part.thought) == bool(last.thought)
            and part.thought_signature is None
        ):
            merged[-1] = last.model_copy(update={"text": last.text + part.text})
        else:
            merged.append(part)
    return merged
