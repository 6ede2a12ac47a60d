"""Deterministic JSON answers for ``responseMimeType: application/json``.

Given ``responseSchema`` (Vertex OpenAPI subset, upper-case types) or
``responseJsonSchema`` (JSON Schema), builds a value that satisfies the
schema's types, enums and required properties; without a schema the answer
is ``{"answer": <generated text>}``.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

MAX_DEPTH = 6


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


def sample(schema: Any, rng: random.Random, words: list[str], depth: int = 0) -> Any:
    """A deterministic value matching ``schema``."""
    if not isinstance(schema, dict) or depth > MAX_DEPTH:
        return None
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return sample(schema[key][0], rng, words, depth + 1)
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return rng.choice(schema["enum"])
    kind = _type_of(schema)
    if kind == "object":
        props = schema.get("properties") or {}
        return {name: sample(sub, rng, words, depth + 1) for name, sub in props.items()}
    if kind == "array":
        low = int(schema.get("minItems", 1) or 0)
        count = max(low, min(int(schema.get("maxItems", 3)), 3))
        return [sample(schema.get("items") or {}, rng, words, depth + 1) for _ in range(count)]
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
    return " ".join(rng.choice(words) for _ in range(rng.randint(1, 4)))


def json_answer(config: dict[str, Any], text: str, rng: random.Random) -> str:
    """JSON text for a JSON-mode request (schema-shaped when a schema is given)."""
    schema = config.get("responseSchema") or config.get("responseJsonSchema")
    if schema is None:
        return json.dumps({"answer": text})
    return json.dumps(sample(schema, rng, re.findall(r"\w+", text) or ["value"]))
