"""Deterministic answers to requests with tools.

* ``functionDeclarations`` and a last turn of user text: a ``functionCall`` to
  the first declaration matching that text (a word of its name, 4 letters or
  more, is in it: ``get_weather`` matches "weather in Paris?"); no match, a
  text answer. ``toolConfig``'s ``allowedFunctionNames`` narrow the choice,
  mode ``NONE`` turns calls off, and mode ``ANY`` answers every request with
  a call (the first declaration when none matches), as Gemini does. The
  arguments are built from the declaration's parameter schema (``parameters``
  or ``parametersJsonSchema``), as JSON answers are; plain strings name the
  prompt's capitalised words ("Paris").
* A last turn carrying ``functionResponse`` parts: text that starts by quoting
  them (``Function get_weather returned {...}.``).
* ``googleSearch`` / ``googleSearchRetrieval`` / ``retrieval`` tools:
  ``groundingMetadata`` with one source per tool.
* ``codeExecution``: an ``executableCode`` and a ``codeExecutionResult`` part
  before the text.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass, field
from typing import Any

from greycloud.emulator.schema import sample
from greycloud.emulator.text import WORDS_DIRECTIVE_RE


@dataclass(frozen=True)
class ToolAnswer:
    """What tools change in an answer."""

    function_call: dict[str, Any] | None = None
    """The ``functionCall`` part's value; the answer is this call alone."""
    lead: str = ""
    """Text the answer starts with (quoting function responses)."""
    parts: list[dict[str, Any]] = field(default_factory=list)
    """Parts before the text (code execution)."""
    grounding: dict[str, Any] | None = None
    """The candidate's ``groundingMetadata``."""


def _get(mapping: dict[str, Any], camel: str) -> Any:
    """A key google-genai may write in camelCase or snake_case."""
    snake = re.sub(r"(?<!^)([A-Z])", r"_\1", camel).lower()
    return mapping.get(camel, mapping.get(snake))


def _tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in body.get("tools") or [] if isinstance(t, dict)]


def _last_turn(body: dict[str, Any]) -> dict[str, Any]:
    contents = [c for c in body.get("contents") or [] if isinstance(c, dict)]
    return contents[-1] if contents else {}


def _parts(turn: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in turn.get("parts") or [] if isinstance(p, dict)]


def _calling_mode(body: dict[str, Any]) -> str:
    calling = _get(_get(body, "toolConfig") or {}, "functionCallingConfig") or {}
    return str(calling.get("mode", "AUTO")).upper()


def _declarations(body: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for tool in _tools(body):
        for declaration in _get(tool, "functionDeclarations") or []:
            if isinstance(declaration, dict) and declaration.get("name"):
                found.append(declaration)
    calling = _get(_get(body, "toolConfig") or {}, "functionCallingConfig") or {}
    if str(calling.get("mode", "")).upper() == "NONE":
        return []
    allowed = _get(calling, "allowedFunctionNames")
    if allowed:
        found = [d for d in found if d["name"] in allowed]
    return found


def _rng(*keys: str) -> random.Random:
    return random.Random(hashlib.sha256("\x00".join(keys).encode()).digest())


def _matches(declaration: dict[str, Any], text: str) -> bool:
    """Whether a word of the function's name (4 letters or more) is in ``text``."""
    said = set(re.findall(r"[a-z]+", text.lower()))
    name = re.sub(r"([a-z])([A-Z])", r"\1_\2", declaration["name"]).lower()
    return any(len(word) >= 4 and word in said for word in re.split(r"[^a-z]+", name))


def _function_call(body: dict[str, Any], text: str, forced: bool) -> dict[str, Any] | None:
    declarations = _declarations(body)
    matching = [d for d in declarations if _matches(d, text)]
    if not matching and not (forced and declarations):
        return None
    chosen = (matching or declarations)[0]
    schema = _get(chosen, "parametersJsonSchema") or _get(chosen, "parameters")
    words = re.findall(r"[A-Za-z]\w*", text) or ["value"]
    args = sample(schema, _rng(chosen["name"], text), words) if schema else {}
    if not isinstance(args, dict):
        return {"name": chosen["name"], "args": {}}
    return {"name": chosen["name"], "args": _name_the_subject(args, schema, words)}


def _name_the_subject(args: dict[str, Any], schema: Any, words: list[str]) -> dict[str, Any]:
    """Plain string arguments become the prompt's names ("Paris" in "Weather in Paris?").

    The names are its capitalised words after the first, else its last word.
    """
    names = [w for w in words[1:] if w[0].isupper()] or words[-1:]
    properties = schema.get("properties") or {} if isinstance(schema, dict) else {}
    for name, sub in properties.items():
        plain = isinstance(sub, dict) and not ({"enum", "format", "const"} & sub.keys())
        if plain and isinstance(args.get(name), str):
            args[name] = " ".join(names)
    return args


def _first_user_text(body: dict[str, Any]) -> str:
    for content in body.get("contents") or []:
        if isinstance(content, dict) and content.get("role", "user") == "user":
            texts = [p["text"] for p in _parts(content) if isinstance(p.get("text"), str)]
            if texts:
                return " ".join(texts)
    return ""


def _quote_responses(parts: list[dict[str, Any]]) -> str:
    quoted = []
    for part in parts:
        response = _get(part, "functionResponse")
        if isinstance(response, dict):
            value = json.dumps(response.get("response"), sort_keys=True)
            quoted.append(f"Function {response.get('name')} returned {value}.")
    return " ".join(quoted)


def _grounding(body: dict[str, Any], text: str) -> dict[str, Any] | None:
    chunks: list[dict[str, Any]] = []
    for tool in _tools(body):
        if _get(tool, "googleSearch") is not None or _get(tool, "googleSearchRetrieval"):
            slug = "-".join(re.findall(r"\w+", text.lower())[:4]) or "search"
            chunks.append({"web": {"uri": f"https://example.com/{slug}", "title": "example.com"}})
        retrieval = _get(tool, "retrieval")
        if isinstance(retrieval, dict):
            search = _get(retrieval, "vertexAiSearch") or {}
            source = search.get("datastore") or search.get("engine") or "retrieval"
            chunks.append({"retrievedContext": {"uri": f"{source}/documents/1", "title": "doc 1"}})
    if not chunks:
        return None
    query = " ".join(WORDS_DIRECTIVE_RE.sub(" ", text).split()[:12])
    return {
        "webSearchQueries": [query],
        "groundingChunks": chunks,
        "groundingSupports": [
            {"segment": {"startIndex": 0, "endIndex": 5}, "groundingChunkIndices": [0]}
        ],
    }


def _code_parts(body: dict[str, Any]) -> list[dict[str, Any]]:
    if not any(_get(tool, "codeExecution") is not None for tool in _tools(body)):
        return []
    return [
        {"executableCode": {"language": "PYTHON", "code": "print(6 * 7)"}},
        {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "42\n"}},
    ]


def tool_answer(body: dict[str, Any]) -> ToolAnswer | None:
    """What the request's tools and last turn change in the answer (None: nothing)."""
    last = _last_turn(body)
    parts = _parts(last)
    text = " ".join(p["text"] for p in parts if isinstance(p.get("text"), str))
    asked = last.get("role", "user") == "user" and text.strip()
    forced = _calling_mode(body) == "ANY"
    if asked or forced:
        call = _function_call(body, text or _first_user_text(body), forced)
        if call is not None:
            return ToolAnswer(function_call=call)
    lead = _quote_responses(parts)
    grounding = _grounding(body, text or lead)
    code = _code_parts(body)
    if not (lead or grounding or code):
        return None
    return ToolAnswer(lead=lead, parts=code, grounding=grounding)
