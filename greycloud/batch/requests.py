"""Batch input: requests in any accepted shape as Vertex JSONL lines, each with its key.

A line is ``{"key": "req-000001", "request": {...}}`` where ``request`` is a
Vertex REST ``GenerateContentRequest``. The key is also stored as the request
label ``greycloud-key``: Vertex echoes the request back with each result but
does not keep the input order, so results are paired with requests by it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from google.genai import types

from greycloud import _genai_compat
from greycloud._request import short_model_name

KEY_LABEL = "greycloud-key"
PUBLISHER_PREFIX = "publishers/google/models/"

BatchRequest = types.InlinedRequest | Mapping[str, Any]

_REST_REQUEST_KEYS = frozenset(
    {"generationConfig", "systemInstruction", "safetySettings", "toolConfig", "cachedContent"}
)


def publisher_model(model: str) -> str:
    """``publishers/google/models/NAME`` for a short name, ``models/NAME`` or a full path."""
    if not model or not isinstance(model, str):
        raise ValueError("A model name is required, e.g. gemini-2.5-flash.")
    if ".." in model or any(ch in model for ch in "?&# \\"):
        raise ValueError(f"Invalid model name {model!r}.")
    if model.startswith(("publishers/", "projects/")):
        return model
    if model.startswith("models/"):
        model = model[len("models/") :]
    if "/" in model:
        raise ValueError(
            f"Invalid model name {model!r}: use a short name such as gemini-2.5-flash "
            "or publishers/google/models/NAME."
        )
    return PUBLISHER_PREFIX + model


def to_rest_request(api_client: Any, request: BatchRequest) -> tuple[dict[str, Any], str | None]:
    """A Vertex REST ``GenerateContentRequest`` dict and the request's model, if it names one.

    Accepts `types.InlinedRequest`, dicts of the same shape (``contents``,
    ``config``, ``model``, ``metadata``; snake_case or camelCase), and dicts
    that already are REST requests (with ``generationConfig`` etc.).
    """
    if isinstance(request, Mapping):
        data = dict(request)
        if _REST_REQUEST_KEYS & data.keys():
            model = data.pop("model", None)
            data.pop("metadata", None)
            if not data.get("contents"):
                raise ValueError("A batch request needs contents.")
            return json.loads(json.dumps(data)), model
        try:
            request = types.InlinedRequest.model_validate(data)
        except Exception as exc:
            raise ValueError(f"Not a valid batch request: {exc}") from None
    if not isinstance(request, types.InlinedRequest):
        raise TypeError(
            f"Batch requests must be types.InlinedRequest or dicts, not {type(request).__name__}."
        )
    if not request.contents:
        raise ValueError("A batch request needs contents.")
    body = _genai_compat.vertex_request_body(api_client, request.contents, request.config)
    return body, request.model


def request_metadata(request: BatchRequest) -> dict[str, str]:
    """The caller's metadata of one request (kept with its result)."""
    if isinstance(request, types.InlinedRequest):
        return dict(request.metadata or {})
    if isinstance(request, Mapping):
        return {str(k): str(v) for k, v in dict(request.get("metadata") or {}).items()}
    return {}


def build_request_lines(
    api_client: Any, requests: Iterable[BatchRequest]
) -> tuple[list[dict[str, Any]], str | None]:
    """JSONL line objects for ``requests`` and the single model they name (if any)."""
    lines: list[dict[str, Any]] = []
    models: set[str] = set()
    seen: set[str] = set()
    for index, item in enumerate(requests):
        key: str | None = None
        source: Any = item
        if isinstance(item, Mapping) and "request" in item:
            key = str(item["key"]) if item.get("key") is not None else None
            source = item["request"]
        try:
            body, model = to_rest_request(api_client, source)
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"requests[{index}]: {exc}") from None
        if model:
            models.add(short_model_name(publisher_model(model)))
        key = key or f"req-{index + 1:06d}"
        if key in seen:
            raise ValueError(f"requests[{index}]: duplicate key {key!r}.")
        seen.add(key)
        labels = dict(body.get("labels") or {})
        labels[KEY_LABEL] = key
        body["labels"] = labels
        line: dict[str, Any] = {"key": key, "request": body}
        metadata = request_metadata(item)
        if metadata:
            line["metadata"] = metadata
        lines.append(line)
    if not lines:
        raise ValueError("No batch requests given.")
    if len(models) > 1:
        raise ValueError(
            f"All requests of one batch job must use the same model, got {sorted(models)}."
        )
    return lines, next(iter(models), None)


def line_key(line: Mapping[str, Any]) -> str | None:
    """The pairing key of an input or output line."""
    if line.get("key") is not None:
        return str(line["key"])
    request = line.get("request")
    if isinstance(request, Mapping):
        labels = request.get("labels")
        if isinstance(labels, Mapping) and labels.get(KEY_LABEL) is not None:
            return str(labels[KEY_LABEL])
    return None


def canonical_request(request: Any) -> str:
    """A request as comparable text, without GreyCloud's own key label."""
    if isinstance(request, Mapping) and isinstance(request.get("labels"), Mapping):
        labels = {k: v for k, v in request["labels"].items() if k != KEY_LABEL}
        request = {k: v for k, v in request.items() if k != "labels"}
        if labels:
            request["labels"] = labels
    return json.dumps(request, sort_keys=True, separators=(",", ":"))
