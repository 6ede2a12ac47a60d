"""Request building and response reading, shared by the sync and async clients.

One function turns (config, contents, per-request overrides) into the model
name, the normalised contents, the `GenerateContentConfig` and a token
estimate. Both clients call it, so an option behaves the same on both sides.
"""

from __future__ import annotations

import copy
import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import pydantic
from google.genai import types
from pydantic import ValidationError

from greycloud._options import (
    DISABLED_ON_THE_WIRE,
    NO_FUNCTIONS,
    FunctionCalling,
    frozen,
    function_calling,
    thinking_config,
    validated_config,
)
from greycloud.config import GreyCloudConfig
from greycloud.rules import MAX_OUTPUT_TOKENS, TEMPERATURE, TOP_P, thinking_level_name
from greycloud.tokens import estimate_parts

logger = logging.getLogger(__name__)

ContentItem = str | types.Content | types.Part | Mapping[str, Any]
ContentsInput = ContentItem | Sequence[ContentItem]
SafetySettingsInput = Sequence[types.SafetySetting | Mapping[str, Any]]

PUBLISHER_MODEL_PREFIX = "publishers/google/models/"
_HARM_CATEGORIES = frozenset(c.value for c in types.HarmCategory) - {"HARM_CATEGORY_UNSPECIFIED"}
_THRESHOLDS = frozenset(t.value for t in types.HarmBlockThreshold) - {
    "HARM_BLOCK_THRESHOLD_UNSPECIFIED"
}


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


def build_safety_settings(
    settings: SafetySettingsInput | None,
) -> list[types.SafetySetting] | None:
    """`SafetySetting` objects from objects or dicts; None or [] means "send none"."""
    if not settings:
        return None
    built: list[types.SafetySetting] = []
    for index, setting in enumerate(settings):
        if isinstance(setting, types.SafetySetting):
            built.append(setting)
            continue
        if not isinstance(setting, Mapping):
            raise TypeError(
                f"safety_settings[{index}] has type {type(setting).__name__}: "
                "use types.SafetySetting or a dict with 'category' and 'threshold'."
            )
        category = str(setting.get("category", ""))
        threshold = str(setting.get("threshold", ""))
        if category not in _HARM_CATEGORIES or threshold not in _THRESHOLDS:
            raise ValueError(
                f"safety_settings[{index}]={dict(setting)!r} is invalid: 'category' must be one "
                f"of {', '.join(sorted(_HARM_CATEGORIES))} and 'threshold' one of "
                f"{', '.join(sorted(_THRESHOLDS))}."
            )
        try:
            built.append(types.SafetySetting.model_validate(dict(setting)))
        except ValidationError as exc:
            raise ValueError(f"safety_settings[{index}] is invalid: {exc}") from None
    return built


def build_thinking_config(level: str | None) -> types.ThinkingConfig | None:
    """`ThinkingConfig` for a thinking level name, case-insensitive."""
    if level is None:
        return None
    name = thinking_level_name(level)
    return types.ThinkingConfig(thinking_level=types.ThinkingLevel(name.upper()))


def search_datastore(config: GreyCloudConfig) -> str | None:
    """The Vertex AI Search datastore requests search, when the config turns search on."""
    if not (config.use_vertex_ai_search and config.vertex_ai_search_datastore):
        return None
    return config.vertex_ai_search_datastore


def _search_tools(datastore: str | None) -> list[types.Tool] | None:
    if not datastore:
        return None
    search = types.VertexAISearch(datastore=datastore)
    return [types.Tool(retrieval=types.Retrieval(vertex_ai_search=search))]


def _pick(override: Any, default: Any) -> Any:
    return default if override is None else override


class _ConfigKey(NamedTuple):
    """The values a `GenerateContentConfig` is built from (hashable: it keys a cache)."""

    temperature: float | None
    top_p: float | None
    max_output_tokens: int | None
    seed: int | None
    system_instruction: str | None
    thinking_level: str | None
    datastore: str | None
    cached_content: str | None


def _build_config(
    options: _ConfigKey, safety_settings: list[types.SafetySetting] | None = None
) -> types.GenerateContentConfig | None:
    """The config with only what is set; None when nothing is.

    An empty config would still cost google-genai a deep copy and a conversion
    on every call, for nothing on the wire.
    """
    given = _given(options, safety_settings)
    return types.GenerateContentConfig(**given) if given else None


def _given(
    options: _ConfigKey, safety_settings: list[types.SafetySetting] | None
) -> dict[str, Any]:
    """The config fields ``options`` set (None left out)."""
    given: dict[str, Any] = {
        "temperature": options.temperature,
        "top_p": options.top_p,
        "max_output_tokens": options.max_output_tokens,
        "seed": options.seed,
        "safety_settings": safety_settings,
        "system_instruction": options.system_instruction,
        "thinking_config": build_thinking_config(options.thinking_level),
        "tools": _search_tools(options.datastore),
        "cached_content": options.cached_content,
    }
    return {name: value for name, value in given.items() if value is not None}


@functools.lru_cache(maxsize=256)
def _shared_config(options: _ConfigKey) -> types.GenerateContentConfig | None:
    """`_build_config`, built once per distinct set of options and then reused.

    Safe to share: google-genai deep-copies a config before it changes anything.
    """
    return _build_config(options)


_BASIC_OPTIONS = frozenset(_ConfigKey._fields) | {"model", "safety_settings"}
"""Options a config is cached for (`_shared_config`); any other builds one per call."""


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
    extra = {k: v for k, v in options.items() if v is not None and k not in _BASIC_OPTIONS}
    text_instruction = instruction if isinstance(instruction, str) else None
    key = _ConfigKey(
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
        generate_config, calling, parse_as = _reused_full_config(
            key, safety, extra, get("thinking_level")
        )
    elif safety:
        generate_config = _build_config(key, safety)
    else:
        generate_config = _shared_config(key)
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


_FULL_CONFIGS: dict[Any, tuple[types.GenerateContentConfig, FunctionCalling, Any]] = {}
_FULL_CONFIGS_MAX = 256


def _reused_full_config(
    key: _ConfigKey,
    safety: list[types.SafetySetting] | None,
    extra: dict[str, Any],
    explicit_level: str | None,
) -> tuple[types.GenerateContentConfig, FunctionCalling, type[pydantic.BaseModel] | None]:
    """`_full_config`, reused for the same options when every value is hashable
    (dicts and lists count: see `frozen`); safety settings or model instances
    (e.g. a `types.Tool`) build it per call. Sharing is safe as for `_shared_config`.
    """
    cache_key = None
    if not safety:
        try:
            cache_key = (key, explicit_level, frozen(extra))
        except TypeError:
            cache_key = None
    if cache_key is not None:
        if cache_key in _FULL_CONFIGS:
            return _FULL_CONFIGS[cache_key]
        extra = copy.deepcopy(extra)  # the shared config must not see the caller's dicts change
    parse_as = _pydantic_json_schema(extra)
    generate_config, calling = _full_config(key, safety, extra, explicit_level)
    built = (generate_config, calling, parse_as)
    if cache_key is not None:
        if len(_FULL_CONFIGS) >= _FULL_CONFIGS_MAX:
            _FULL_CONFIGS.clear()
        _FULL_CONFIGS[cache_key] = built
    return built


def _pydantic_json_schema(extra: dict[str, Any]) -> type[pydantic.BaseModel] | None:
    """A pydantic model given as ``response_json_schema``, replaced by its JSON schema."""
    model = extra.get("response_json_schema")
    if not (isinstance(model, type) and issubclass(model, pydantic.BaseModel)):
        return None
    extra["response_json_schema"] = model.model_json_schema()
    return model


def _full_config(
    key: _ConfigKey,
    safety: list[types.SafetySetting] | None,
    extra: dict[str, Any],
    explicit_level: str | None,
) -> tuple[types.GenerateContentConfig, FunctionCalling]:
    """The config with options beyond the basic ones, built (and validated) per call.

    The config's default thinking level yields to a per-request
    ``thinking_budget`` or ``thinking_config``; Python functions in ``tools``
    are kept for the client's own function-calling loop, and google-genai's
    loop is turned off on the wire.
    """
    budget = extra.pop("thinking_budget", None)
    include = extra.pop("include_thoughts", None)
    base_thinking = extra.pop("thinking_config", None)
    level = explicit_level
    if level is None and budget is None and base_thinking is None:
        level = key.thinking_level
    thinking = thinking_config(base_thinking, level, budget, include)
    calling = function_calling(
        extra.get("tools"),
        extra.pop("automatic_function_calling", None),
        extra.pop("maximum_remote_calls", None),
    )
    given = _given(key._replace(thinking_level=None), safety)
    given.update(extra)
    if thinking is not None:
        given["thinking_config"] = thinking
    search = _search_tools(key.datastore)
    if search and extra.get("tools"):
        given["tools"] = [*extra["tools"], *search]
    if key.cached_content:
        given.pop("tools", None)  # only Python functions: the cache declares them
    if calling.functions or calling.disabled:
        given["automatic_function_calling"] = DISABLED_ON_THE_WIRE
    return validated_config(given), calling


def count_tokens_config(system_instruction: str | None) -> types.CountTokensConfig | None:
    """Config for a countTokens call that includes the system instruction."""
    if not system_instruction:
        return None
    return types.CountTokensConfig(system_instruction=system_instruction)
