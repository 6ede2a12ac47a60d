"""Request building, shared by the sync and async clients.

One function turns (config, contents, per-request overrides) into the model
name, the normalised contents, the `GenerateContentConfig` (built by
`greycloud._configs`) and a token estimate. Both clients call it, so an option
behaves the same on both sides.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pydantic
from google.genai import types
from pydantic import ValidationError

from greycloud._configs import (
    BASIC_OPTIONS,
    ConfigKey,
    build_config,
    build_safety_settings,
    reused_full_config,
    search_datastore,
    shared_config,
)
from greycloud._options import NO_FUNCTIONS, FunctionCalling
from greycloud.config import GreyCloudConfig
from greycloud.rules import MAX_OUTPUT_TOKENS, TEMPERATURE, TOP_P
from greycloud.tokens import estimate_parts

logger = logging.getLogger(__name__)

ContentItem = str | types.Content | types.Part | Mapping[str, Any]
ContentsInput = ContentItem | Sequence[ContentItem]

PUBLISHER_MODEL_PREFIX = "publishers/google/models/"


@dataclass(frozen=True)
class PreparedRequest:
    """Everything a generate or count call sends, built once."""

    model: str
    contents: list[types.Content]
    config: types.GenerateContentConfig | None
    """None when no option is set (google-genai then skips all config handling)."""
    estimated_tokens: int
    calling: FunctionCalling = NO_FUNCTIONS
    """The Python functions in ``tools`` and how automatic function calling runs."""
    parse_as: type[pydantic.BaseModel] | None = None
    """A pydantic model given as ``response_json_schema`` (google-genai sends only
    dicts there): the response's ``.parsed`` is filled with it, see `fill_parsed`."""

    @property
    def sdk_contents(self) -> types.Content | list[types.Content]:
        """``contents`` in the form google-genai checks fastest: a single turn alone.

        The SDK validates a *list* of `Content` models against its whole union of
        content shapes, about 0.2 ms per turn; a lone `Content` takes microseconds
        and is sent the same way.
        """
        return self.contents[0] if len(self.contents) == 1 else self.contents


def short_model_name(model: str) -> str:
    """``gemini-x`` from ``gemini-x``, ``models/gemini-x``,
    ``publishers/google/models/gemini-x`` or a full ``projects/...`` model path."""
    return model.rstrip("/").rsplit("/", 1)[-1]


def normalize_contents(contents: ContentsInput) -> list[types.Content]:
    """Contents in any accepted shape as a list of `types.Content`.

    Strings and parts are grouped into one user turn; dicts are validated as
    `Content` (or `Part` when they have no ``parts`` key).
    """
    if contents is None:
        raise ValueError("contents is empty: pass a prompt string, a Content, or a list of them.")
    items = (
        [contents]
        if isinstance(contents, (str, Mapping, types.Content, types.Part))
        else list(contents)
    )
    result: list[types.Content] = []
    pending: list[types.Part] = []

    def flush() -> None:
        if pending:
            result.append(types.Content(role="user", parts=list(pending)))
            pending.clear()

    for index, item in enumerate(items):
        if isinstance(item, str):
            pending.append(types.Part.from_text(text=item))
        elif isinstance(item, types.Part):
            pending.append(item)
        elif isinstance(item, types.Content):
            flush()
            result.append(item)
        elif isinstance(item, Mapping):
            try:
                if "parts" in item:
                    flush()
                    result.append(types.Content.model_validate(dict(item)))
                else:
                    pending.append(types.Part.model_validate(dict(item)))
            except ValidationError as exc:
                raise ValueError(
                    f"contents[{index}] is not a valid Content or Part: {exc}"
                ) from None
        else:
            raise TypeError(
                f"contents[{index}] has type {type(item).__name__}: use str, types.Content, "
                "types.Part or a dict."
            )
    flush()
    texts, others = contents_texts(result)
    if not others and not any(t.strip() for t in texts):
        raise ValueError("contents is empty: pass a prompt string, a Content, or a list of them.")
    return result


def contents_texts(contents: Sequence[types.Content]) -> tuple[list[str], int]:
    """All text pieces in ``contents`` and the number of non-text parts."""
    texts: list[str] = []
    others = 0
    for content in contents:
        for part in content.parts or ():
            if part.text is not None:
                texts.append(part.text)
            else:
                others += 1
    return texts, others


def estimate_request_tokens(
    contents: Sequence[types.Content], system_instruction: str | None = None
) -> int:
    """Token estimate of a request's input (used for limits and as count fallback)."""
    texts, others = contents_texts(contents)
    if system_instruction:
        texts.append(system_instruction)
    return estimate_parts(texts, others)


def _pick(override: Any, default: Any) -> Any:
    return default if override is None else override


def prepare_request(
    config: GreyCloudConfig,
    contents: ContentsInput,
    **options: Any,
) -> PreparedRequest:
    """Build the request for ``contents`` with per-request overrides over ``config``.

    ``options`` are those of `GenerationOptions` (names checked by the caller).
    With ``cached_content`` the cache already carries its system instruction
    and tools: the config's defaults for those are left out, and passing
    ``system_instruction``, ``tools`` or ``tool_config`` explicitly is an error
    (the API would reject it).
    """
    get = options.get
    cached_content = get("cached_content")
    system_instruction = get("system_instruction")
    if cached_content:
        _check_cached_request(options)
    TEMPERATURE.check("temperature", get("temperature"))
    TOP_P.check("top_p", get("top_p"))
    MAX_OUTPUT_TOKENS.check("max_output_tokens", get("max_output_tokens"))

    normalized = normalize_contents(contents)
    instruction = None if cached_content else _pick(system_instruction, config.system_instruction)
    datastore = search_datastore(config)
    if cached_content and datastore:
        logger.debug("cached_content given: the config's Vertex AI Search tool is not sent")
    safety = build_safety_settings(_pick(get("safety_settings"), config.safety_settings))
    extra = {k: v for k, v in options.items() if v is not None and k not in BASIC_OPTIONS}
    text_instruction = instruction if isinstance(instruction, str) else None
    key = ConfigKey(
        temperature=_pick(get("temperature"), config.temperature),
        top_p=_pick(get("top_p"), config.top_p),
        max_output_tokens=_pick(get("max_output_tokens"), config.max_output_tokens),
        seed=_pick(get("seed"), config.seed),
        system_instruction=text_instruction,
        thinking_level=_pick(get("thinking_level"), config.thinking_level),
        datastore=None if cached_content else datastore,
        cached_content=cached_content or None,
    )
    calling, parse_as = NO_FUNCTIONS, None
    generate_config: types.GenerateContentConfig | None
    if extra or instruction is not text_instruction:
        if instruction is not text_instruction:  # a Content, Part or list: sent as given
            extra["system_instruction"] = instruction
        generate_config, calling, parse_as = reused_full_config(
            key, safety, extra, get("thinking_level")
        )
    elif safety:
        generate_config = build_config(key, safety)
    else:
        generate_config = shared_config(key)
    return PreparedRequest(
        model=short_model_name(get("model") or config.model or ""),
        contents=normalized,
        config=generate_config,
        estimated_tokens=estimate_request_tokens(normalized, text_instruction),
        calling=calling,
        parse_as=parse_as,
    )


def _check_cached_request(options: dict[str, Any]) -> None:
    """With ``cached_content``, the cache holds the system instruction and tools: a
    request may not send them. Python functions in ``tools`` are allowed (they are
    not sent; they run when the model calls the cache's declarations of them)."""
    tools = options.get("tools") or ()
    only_functions = all(callable(t) and not isinstance(t, types.Tool) for t in tools)
    given = [
        name
        for name in ("system_instruction", "tools", "tool_config")
        if options.get(name) and not (name == "tools" and only_functions)
    ]
    if given:
        raise ValueError(
            f"{given[0]} cannot be combined with cached_content: the cache already holds "
            "its system instruction and tools. Put it in the cache when you create it, "
            "or drop cached_content (Python functions may be passed as tools: they are "
            "called when the model asks for the cache's declarations of them)."
        )


def count_tokens_config(system_instruction: str | None) -> types.CountTokensConfig | None:
    """Config for a countTokens call that includes the system instruction."""
    if not system_instruction:
        return None
    return types.CountTokensConfig(system_instruction=system_instruction)
