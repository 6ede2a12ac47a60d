"""Building a request's `GenerateContentConfig`, reused per distinct set of options.

`greycloud._request.prepare_request` resolves the options against the config;
this module turns them into the config google-genai gets: only what is set,
nothing at all when nothing is (an empty config still costs the SDK a deep copy
and a conversion), built once per distinct set of options and then shared (the
SDK copies a config before it changes anything).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import pydantic
from google.genai import types
from pydantic import ValidationError

from greycloud._options import (
    DISABLED_ON_THE_WIRE,
    FunctionCalling,
    frozen,
    function_calling,
    thinking_config,
    validated_config,
)
from greycloud.config import GreyCloudConfig
from greycloud.rules import thinking_level_name

SafetySettingsInput = Sequence[types.SafetySetting | Mapping[str, Any]]

_HARM_CATEGORIES = frozenset(c.value for c in types.HarmCategory) - {"HARM_CATEGORY_UNSPECIFIED"}
_THRESHOLDS = frozenset(t.value for t in types.HarmBlockThreshold) - {
    "HARM_BLOCK_THRESHOLD_UNSPECIFIED"
}


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


def search_tools(datastore: str | None) -> list[types.Tool] | None:
    if not datastore:
        return None
    search = types.VertexAISearch(datastore=datastore)
    return [types.Tool(retrieval=types.Retrieval(vertex_ai_search=search))]


class ConfigKey(NamedTuple):
    """The values a `GenerateContentConfig` is built from (hashable: it keys a cache)."""

    temperature: float | None
    top_p: float | None
    max_output_tokens: int | None
    seed: int | None
    system_instruction: str | None
    thinking_level: str | None
    datastore: str | None
    cached_content: str | None


def build_config(
    options: ConfigKey, safety_settings: list[types.SafetySetting] | None = None
) -> types.GenerateContentConfig | None:
    """The config with only what is set; None when nothing is.

    An empty config would still cost google-genai a deep copy and a conversion
    on every call, for nothing on the wire.
    """
    given = _given(options, safety_settings)
    return types.GenerateContentConfig(**given) if given else None


def _given(options: ConfigKey, safety_settings: list[types.SafetySetting] | None) -> dict[str, Any]:
    """The config fields ``options`` set (None left out)."""
    given: dict[str, Any] = {
        "temperature": options.temperature,
        "top_p": options.top_p,
        "max_output_tokens": options.max_output_tokens,
        "seed": options.seed,
        "safety_settings": safety_settings,
        "system_instruction": options.system_instruction,
        "thinking_config": build_thinking_config(options.thinking_level),
        "tools": search_tools(options.datastore),
        "cached_content": options.cached_content,
    }
    return {name: value for name, value in given.items() if value is not None}


@functools.lru_cache(maxsize=256)
def shared_config(options: ConfigKey) -> types.GenerateContentConfig | None:
    """`build_config`, built once per distinct set of options and then reused.

    Safe to share: google-genai deep-copies a config before it changes anything.
    """
    return build_config(options)


BASIC_OPTIONS = frozenset(ConfigKey._fields) | {"model", "safety_settings"}
"""Options a config is cached for (`shared_config`); any other builds one per call."""


_FULL_CONFIGS: dict[Any, tuple[types.GenerateContentConfig, FunctionCalling, Any]] = {}
_FULL_CONFIGS_MAX = 256


def reused_full_config(
    key: ConfigKey,
    safety: list[types.SafetySetting] | None,
    extra: dict[str, Any],
    explicit_level: str | None,
) -> tuple[types.GenerateContentConfig, FunctionCalling, type[pydantic.BaseModel] | None]:
    """`_full_config`, reused for the same options when every value is hashable
    (dicts and lists count: see `frozen`); safety settings or model instances
    (e.g. a `types.Tool`) build it per call. Sharing is safe as for `shared_config`.
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
    key: ConfigKey,
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
    search = search_tools(key.datastore)
    if search and extra.get("tools"):
        given["tools"] = [*extra["tools"], *search]
    if key.cached_content:
        given.pop("tools", None)  # only Python functions: the cache declares them
    if calling.functions or calling.disabled:
        given["automatic_function_calling"] = DISABLED_ON_THE_WIRE
    return validated_config(given), calling
