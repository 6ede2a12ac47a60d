"""The per-request options: which names exist, and how the full set becomes a config.

Every `google.genai.types.GenerateContentConfig` field is an option (the names
come from the model's ``model_fields``, so a google-genai upgrade adds its new
fields here by itself), plus GreyCloud's own: ``model``, ``thinking_level`` /
``thinking_budget`` / ``include_thoughts`` (folded into one ``thinking_config``)
and ``maximum_remote_calls`` (rounds of automatic function calling, named as
in google-genai's ``AutomaticFunctionCallingConfig``). Values are checked by
google-genai's own pydantic model.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from google.genai import types
from pydantic import ValidationError

from greycloud.rules import ConfigError, thinking_level_name

NOT_OPTIONS = frozenset({"should_return_http_response"})
"""Config fields that change what a call returns (a raw HTTP response): not offered."""

CONFIG_OPTIONS = frozenset(types.GenerateContentConfig.model_fields) - NOT_OPTIONS
GREYCLOUD_OPTIONS = ("model", "thinking_level", "thinking_budget", "include_thoughts")
AFC_OPTIONS = ("maximum_remote_calls",)
ACCEPTED_OPTIONS = frozenset(CONFIG_OPTIONS | set(GREYCLOUD_OPTIONS) | set(AFC_OPTIONS))
"""Every keyword a generate method accepts."""

DEFAULT_MAXIMUM_REMOTE_CALLS: int = types.AutomaticFunctionCallingConfig.model_fields[
    "maximum_remote_calls"
].default
"""Model requests one automatic-function-calling call may make (google-genai's default)."""


def check_option_names(options: Iterable[str]) -> None:
    """`TypeError` naming the first unknown option (with a close match, if any)."""
    unknown = sorted(set(options) - ACCEPTED_OPTIONS)
    if not unknown:
        return
    name = unknown[0]
    close = difflib.get_close_matches(name, ACCEPTED_OPTIONS, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    ordered = [*GREYCLOUD_OPTIONS[:1], *sorted(ACCEPTED_OPTIONS - {"model"})]
    raise TypeError(
        f"unknown option {name!r}: the options are {', '.join(ordered)} (every "
        f"google.genai.types.GenerateContentConfig field, plus GreyCloud's).{hint}"
    )


def config_options(
    config: types.GenerateContentConfig | Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The fields set in a `GenerateContentConfig` (or its dict form) as options."""
    if config is None:
        return {}
    if isinstance(config, Mapping):
        check_option_names(config)
        try:
            config = types.GenerateContentConfig.model_validate(dict(config))
        except ValidationError as exc:
            raise ValueError(f"config is not a valid GenerateContentConfig: {exc}") from None
    if not isinstance(config, types.GenerateContentConfig):
        raise TypeError(
            f"config has type {type(config).__name__}: use types.GenerateContentConfig or a dict."
        )
    return {
        name: getattr(config, name)
        for name in config.model_fields_set
        if getattr(config, name) is not None
    }


def thinking_config(
    base: types.ThinkingConfig | Mapping[str, Any] | None,
    level: str | None,
    budget: int | None,
    include_thoughts: bool | None,
) -> types.ThinkingConfig | None:
    """One `ThinkingConfig` from ``thinking_config`` and the three shortcuts over it."""
    if level is not None and budget is not None:
        raise ConfigError(
            "thinking_level and thinking_budget cannot be combined (Vertex AI refuses a "
            "request with both): give one of them.",
            field="thinking_budget",
        )
    given: dict[str, Any] = {}
    if isinstance(base, types.ThinkingConfig):
        given = base.model_dump(exclude_none=True)
    elif isinstance(base, Mapping):
        given = dict(base)
    elif base is not None:
        raise TypeError("thinking_config must be a types.ThinkingConfig or a dict.")
    if level is not None:
        given.pop("thinking_budget", None)
        given["thinking_level"] = types.ThinkingLevel(thinking_level_name(level).upper())
    if budget is not None:
        given.pop("thinking_level", None)
        given["thinking_budget"] = budget
    if include_thoughts is not None:
        given["include_thoughts"] = include_thoughts
    if not given:
        return None
    try:
        return types.ThinkingConfig.model_validate(given)
    except ValidationError as exc:
        raise ValueError(f"thinking options are invalid: {_first_error(exc)}") from None


@dataclass(frozen=True)
class FunctionCalling:
    """How a request's Python functions are called (automatic function calling)."""

    functions: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    """The callables given in ``tools``, by name."""
    maximum_remote_calls: int = DEFAULT_MAXIMUM_REMOTE_CALLS
    """Model requests one call may make (0 or less: automatic calling is off)."""
    disabled: bool = False
    """The caller turned automatic calling off: function calls come back to them."""

    @property
    def automatic(self) -> bool:
        """Whether the client runs the functions and asks the model again."""
        return bool(self.functions) and not self.disabled and self.maximum_remote_calls > 0


NO_FUNCTIONS = FunctionCalling()

DISABLED_ON_THE_WIRE = types.AutomaticFunctionCallingConfig(disable=True)
"""Sent to google-genai so its own loop (outside the limiter and retries) never runs."""


def function_calling(
    tools: Any, afc: types.AutomaticFunctionCallingConfig | Mapping[str, Any] | None, rounds: Any
) -> FunctionCalling:
    """The callables in ``tools`` and the automatic-calling settings."""
    functions = {}
    for tool in tools or ():
        if callable(tool) and not isinstance(tool, types.Tool):
            name = getattr(tool, "__name__", None)
            if not name:
                raise TypeError(f"tools: {tool!r} is callable but has no __name__.")
            functions[name] = tool
    if isinstance(afc, Mapping):
        afc = types.AutomaticFunctionCallingConfig.model_validate(dict(afc))
    disabled = bool(afc is not None and afc.disable)
    if rounds is None and afc is not None and "maximum_remote_calls" in afc.model_fields_set:
        rounds = afc.maximum_remote_calls
    if rounds is None:
        rounds = DEFAULT_MAXIMUM_REMOTE_CALLS
    if isinstance(rounds, bool) or not isinstance(rounds, int):
        raise ConfigError(
            f"maximum_remote_calls={rounds!r} is not valid: use a whole number (model "
            "requests per call; 0 turns automatic function calling off).",
            field="maximum_remote_calls",
        )
    if not functions and not disabled and rounds == DEFAULT_MAXIMUM_REMOTE_CALLS:
        return NO_FUNCTIONS
    return FunctionCalling(functions=functions, maximum_remote_calls=rounds, disabled=disabled)


def is_async_function(function: Callable[..., Any]) -> bool:
    """Whether calling ``function`` gives a coroutine to await."""
    return inspect.iscoroutinefunction(function)


def frozen(value: Any) -> Any:
    """A hashable stand-in for an option value (dicts and lists included, each value
    tagged with its type so ``1`` and ``True`` differ); `TypeError` when there is none."""
    if isinstance(value, Mapping):
        return (dict, tuple((key, frozen(item)) for key, item in value.items()))
    if isinstance(value, (list, tuple)):
        return (type(value), tuple(frozen(item) for item in value))
    hash(value)
    return (type(value), value)


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error.get("loc", ()))
    return f"{where}: {error.get('msg')} (got {error.get('input')!r})"


def validated_config(given: Mapping[str, Any]) -> types.GenerateContentConfig:
    """``given`` as a `GenerateContentConfig`, checked by google-genai's model.

    An invalid value is a `ValueError` naming the option and what was wrong.
    """
    try:
        return types.GenerateContentConfig.model_validate(dict(given))
    except ValidationError as exc:
        raise ValueError(
            f"option {_first_error(exc)}: see google.genai.types.GenerateContentConfig "
            "for what it accepts."
        ) from None
