"""Request-body checks mirroring what the real Vertex API rejects.

The number ranges are the library's (`greycloud.rules`), which are Vertex's.
"""

from __future__ import annotations

import json
from typing import Any

from greycloud.emulator.errors import ApiError
from greycloud.rules import MAX_OUTPUT_TOKENS, TEMPERATURE, TOP_P, Bound

THINKING_LEVELS = frozenset(
    {"THINKING_LEVEL_UNSPECIFIED", "MINIMAL", "LOW", "MEDIUM", "HIGH", "XHIGH"}
)
ROLES = frozenset({"user", "model", "function", "tool"})
DATA_PART_KEYS = frozenset(
    {
        "inlineData",
        "fileData",
        "functionCall",
        "functionResponse",
        "executableCode",
        "codeExecutionResult",
    }
)
MISSING_MODEL = "missing-model"


def parse_body(raw: bytes) -> dict[str, Any]:
    """Parse a JSON object body or raise 400."""
    try:
        body = json.loads(raw or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, f"Invalid JSON payload received. {exc}") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "Invalid JSON payload received. Expected a JSON object.")
    return body


def _check_contents(contents: Any) -> None:
    if contents is None:
        raise ApiError(400, "contents is not specified. Please provide at least one content.")
    if not isinstance(contents, list) or not contents:
        raise ApiError(400, "contents must be a non-empty list of Content objects.")
    has_payload = False
    for i, content in enumerate(contents):
        if not isinstance(content, dict):
            raise ApiError(400, f"contents[{i}] must be a Content object.")
        role = content.get("role")
        if role is not None and role not in ROLES:
            raise ApiError(400, f"contents[{i}].role must be one of {sorted(ROLES)}, got {role!r}.")
        parts = content.get("parts")
        if not isinstance(parts, list) or not parts:
            raise ApiError(400, f"contents[{i}].parts must contain at least one part.")
        for part in parts:
            if not isinstance(part, dict):
                raise ApiError(400, f"contents[{i}].parts entries must be Part objects.")
            text = part.get("text")
            if (isinstance(text, str) and text.strip()) or DATA_PART_KEYS & part.keys():
                has_payload = True
    if not has_payload:
        raise ApiError(
            400,
            "Unable to submit request because it has an empty text parameter. "
            "Add a value to the parameter and try again.",
        )


def _check_number(config: dict[str, Any], key: str, bound: Bound) -> None:
    value = config.get(key)
    if value is None:
        return
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ApiError(400, f"generationConfig.{key} must be a number, got {value!r}.")
    if not bound.admits(value):
        raise ApiError(400, f"generationConfig.{key} must be {bound.requirement}, got {value}.")


def _check_generation_config(config: Any) -> None:
    if config is None:
        return
    if not isinstance(config, dict):
        raise ApiError(400, "generationConfig must be an object.")
    _check_number(config, "temperature", TEMPERATURE)
    _check_number(config, "topP", TOP_P)
    _check_number(config, "maxOutputTokens", MAX_OUTPUT_TOKENS)
    thinking = config.get("thinkingConfig")
    if isinstance(thinking, dict) and "thinkingLevel" in thinking:
        level = thinking["thinkingLevel"]
        if level not in THINKING_LEVELS:
            raise ApiError(
                400,
                f"generationConfig.thinkingConfig.thinkingLevel must be one of "
                f"{sorted(THINKING_LEVELS)}, got {level!r}.",
            )


def validate_generate(body: dict[str, Any]) -> None:
    """Validate a generateContent / streamGenerateContent body."""
    _check_contents(body.get("contents"))
    if body.get("cachedContent") and any(
        body.get(k) for k in ("systemInstruction", "tools", "toolConfig")
    ):
        raise ApiError(
            400,
            "Tool config, tools and system instruction should not be set in the request "
            "when using cached content.",
        )
    _check_generation_config(body.get("generationConfig"))


def validate_count(body: dict[str, Any]) -> None:
    """Validate a countTokens body."""
    _check_contents(body.get("contents"))


def check_model(model: str, resource: str) -> None:
    """Raise 404 for the reserved ``missing-model`` id."""
    if model == MISSING_MODEL:
        raise ApiError(
            404,
            f"Publisher Model `{resource}` was not found or your project does not have "
            "access to it.",
        )
