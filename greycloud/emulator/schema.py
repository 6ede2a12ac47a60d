"""Deterministic JSON answers for ``responseMimeType: application/json``.

Given ``responseSchema`` (Vertex OpenAPI subset, upper-case types) or
``responseJsonSchema`` (JSON Schema, local ``$ref``s into ``$defs`` resolved),
builds a value that satisfies the schema's types, enums, ``const``, common
string formats and required properties; without a schema the answer is
``{"answer": <generated text>}``. Function-call arguments are built the same way.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

MAX_DEPTH = 6
FORMATS = {
    "date-time": "2026-01-02T03:04:05Z",
    "date": "2026-01-02",
    "time": "03:04:05",
    "email": "someone@example.com",
    "uri": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
}


def _type_of(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if str(k).lower() != "null"), "string")
    if kind is None:
        if "properties" in schema:
            return "object"
        if "items" in schema:
            return "array"
        return "string"
    return str(kind).lower()


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with a local ``$ref`` (``#/$defs/X``) replaced by its target."""
    ref = schema.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return schema
    target: Any = root
    for key in ref[2:].split("/"):
        target = target.get(key) if isinstance(target, dict) else None
    return target if isinstance(target, dict) else {}


def sample(
    schema: Any,
    rng: random.Random,
    words: list[str],
    depth: int = 0,
    root: dict[str, Any] | None = None,
) -> Any:
    """A deterministic value matching ``schema``."""
    if not isinstance(schema, dict) or depth > MAX_DEPTH:
        return None
    root = schema if root is None else root
    schema = _resolve(schema, root)
    for key in ("anyOf", "oneOf", "allOf"):
        options = [s for s in schema.get(key) or [] if _resolve(s, root).get("type") != "null"]
        if options:
            return sample(options[0], rng, words, depth + 1, root)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return rng.choice(schema["enum"])
    kind = _type_of(schema)
    if kind == "object":
        props = schema.get("properties") or {}
        return {name: sample(sub, rng, words, depth + 1, root) for name, sub in props.items()}
    if kind == "array":
        low = int(schema.get("minItems", 1) or 0)
        count = max(low, min(int(schema.get("maxItems", 3)), 3))
        items = schema.get("items") or {}
        return [sample(items, rng, words, depth + 1, root) for _ in range(count)]
    if kind == "integer":
        return rng.randint(int(schema.get("minimum", 0)), int(schema.get("maximum", 100)))
    if kind == "number":
        return round(
            rng.uniform(float(schema.get("minimum", 0)), float(schema.get("maximum", 1))), 3
        )
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if schema.get("format") in FORMATS:
        return FORMATS[schema["format"]]
    return " ".join(rng.choice(words) for _ in range(rng.randint(1, 4)))


def json_answer(config: dict[str, Any], text: str, rng: random.Random) -> str:
    """JSON text for a JSON-mode request (schema-shaped when a schema is given)."""
    schema = config.get("responseSchema") or config.get("responseJsonSchema")
    if schema is None:
        return json.dumps({"answer": text})
    return json.dumps(sample(schema, rng, re.findall(r"\w+", text) or ["value"]))
