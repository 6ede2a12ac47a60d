"""Typed server settings, layered env < initializationOptions < workspace/configuration.

Connection and generation settings left unset (``None``) fall through to
``GreyCloudConfig``, which reads the environment. Each layer is applied key by
key: an invalid value is reported (once per key and value) and the previous
value for that key is kept, so one typo never resets the rest.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs
import cattrs

from greycloud.config import GreyCloudConfig
from greycloud.rules import (
    IDLE_TIMEOUT,
    MAX_OUTPUT_TOKENS,
    NON_NEGATIVE,
    POSITIVE,
    SHARE,
    TEMPERATURE,
    TPM_COUNTS,
    ConfigError,
)
from greycloud_lsp.common.field_validators import non_empty, one_of, within
from greycloud_lsp.common.payload_conversion import camel, converter, describe_error
from greycloud_lsp.common.payloads import INSERT_MODES

TOKEN_MODES = ("auto", "api", "local", "estimate")


@attrs.define(frozen=True)
class TokenCountSettings:
    """``tokenCount``: live token counts."""

    enabled: bool = True
    debounce_ms: int = attrs.field(
        default=500, validator=within("tokenCount.debounceMs", NON_NEGATIVE)
    )
    mode: str = attrs.field(default="auto", validator=one_of("tokenCount.mode", TOKEN_MODES))
    local_model_path: str | None = None
    """A local tokenizer file (no download): a SentencePiece ``.model`` (gemma3 models) or
    a Hugging Face ``tokenizer.json``, or a directory holding one (gemma4 models)."""


@attrs.define(frozen=True)
class CacheSettings:
    """``cache``: workspace context caches."""

    ttl_seconds: int = attrs.field(default=3600, validator=within("cache.ttlSeconds", POSITIVE))
    include: list[str] = attrs.field(factory=list)
    exclude: list[str] = attrs.field(factory=list)
    max_file_bytes: int = attrs.field(
        default=512 * 1024, validator=within("cache.maxFileBytes", POSITIVE)
    )
    max_total_bytes: int = attrs.field(
        default=20 * 1024 * 1024, validator=within("cache.maxTotalBytes", POSITIVE)
    )
    keep_alive: bool = False
    delete_on_exit: bool = True
    min_tokens: int | None = attrs.field(
        default=None, validator=within("cache.minTokens", NON_NEGATIVE)
    )
    """Pre-check minimum for ``greycloud.cacheWorkspace``: None uses the library's
    table (``greycloud.pricing.MIN_CACHE_TOKENS``), 0 skips the check."""


@attrs.define(frozen=True)
class CompletionSettings:
    """``completion``: inline (ghost-text) completions, ``textDocument/inlineCompletion``."""

    enabled: bool = True
    model: str | None = None
    """None: the library's ``DEFAULT_COMPLETION_MODEL`` (a fast flash model)."""
    debounce_ms: int = attrs.field(
        default=200, validator=within("completion.debounceMs", NON_NEGATIVE)
    )
    max_tokens: int = attrs.field(
        default=96, validator=within("completion.maxTokens", MAX_OUTPUT_TOKENS)
    )
    context_tokens: int = attrs.field(
        default=2048, validator=within("completion.contextTokens", POSITIVE)
    )
    languages: dict[str, bool] = attrs.field(factory=dict)
    """languageId -> on/off; ``"*"`` is the default for the others (on when absent)."""
    quota_share: float = attrs.field(default=0.25, validator=within("completion.quotaShare", SHARE))
    max_wait_ms: int = attrs.field(
        default=300, validator=within("completion.maxWaitMs", NON_NEGATIVE)
    )


@attrs.define(frozen=True)
class DaemonSettings:
    """``daemon``: the per-user daemon (a ``--standalone`` server ignores it)."""

    idle_timeout: float | None = attrs.field(
        default=None, validator=within("daemon.idleTimeout", IDLE_TIMEOUT)
    )
    """Seconds the daemon stays after the last window closes; None: its ``--idle-timeout``."""


@attrs.define(frozen=True)
class CodeActionTemplate:
    """One entry of ``codeActions``: a code action of the user's own.

    ``prompt`` may use ``{selection}``, ``{language}`` and ``{file}``; without
    ``{selection}`` the selected text follows the prompt.
    """

    title: str = attrs.field(validator=non_empty("codeActions.title"))
    prompt: str = attrs.field(validator=non_empty("codeActions.prompt"))
    insert: str = attrs.field(default="none", validator=one_of("codeActions.insert", INSERT_MODES))


@attrs.define(frozen=True)
class Settings:
    """Everything the server can be configured with (section ``greycloud``)."""

    project_id: str | None = None
    location: str | None = None
    model: str | None = None
    endpoint: str | None = None
    use_api_key: bool | None = None
    api_key_file: str | None = None
    sa_email: str | None = None
    rpm: int | None = attrs.field(default=None, validator=within("rpm", POSITIVE))
    tpm: int | None = attrs.field(default=None, validator=within("tpm", POSITIVE))
    tpm_counts: str | None = attrs.field(
        default=None, validator=attrs.validators.optional(one_of("tpmCounts", TPM_COUNTS))
    )
    """What ``tpm`` counts: input (default), uncached-input or total (greycloud.rules)."""
    max_concurrency: int | None = attrs.field(
        default=None, validator=within("maxConcurrency", POSITIVE)
    )
    quota_url: str | None = attrs.field(default=None, repr=False)
    """``redis://``, ``redis+cluster://`` or ``redis+sentinel://`` URL: share rpm/tpm/concurrency
    with other processes (README)."""
    temperature: float | None = attrs.field(
        default=None, validator=within("temperature", TEMPERATURE)
    )
    max_output_tokens: int | None = attrs.field(
        default=None, validator=within("maxOutputTokens", MAX_OUTPUT_TOKENS)
    )
    system_instruction: str | None = None
    token_count: TokenCountSettings = attrs.field(factory=TokenCountSettings)
    cache: CacheSettings = attrs.field(factory=CacheSettings)
    code_actions: tuple[CodeActionTemplate, ...] = ()
    completion: CompletionSettings = attrs.field(factory=CompletionSettings)
    daemon: DaemonSettings = attrs.field(factory=DaemonSettings)

    def client_config_overrides(self) -> dict[str, Any]:
        """The ``GreyCloudConfig`` keyword arguments these settings set explicitly."""
        names = (
            "project_id",
            "location",
            "model",
            "endpoint",
            "use_api_key",
            "api_key_file",
            "sa_email",
            "rpm",
            "tpm",
            "tpm_counts",
            "max_concurrency",
            "quota_url",
            "temperature",
            "max_output_tokens",
            "system_instruction",
        )
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}


for _cls in (
    TokenCountSettings,
    CacheSettings,
    CompletionSettings,
    DaemonSettings,
    CodeActionTemplate,
    Settings,
):
    attrs.resolve_types(_cls)


@attrs.define
class SettingsProblem:
    """One rejected value: ``key`` is the dotted camelCase name."""

    key: str
    value: Any
    message: str


def _apply(obj: Any, raw: dict[str, Any], prefix: str, problems: list[SettingsProblem]) -> Any:
    for field in attrs.fields(type(obj)):
        wire = camel(field.name)
        if wire not in raw:
            continue
        key = f"{prefix}{wire}"
        value = raw[wire]
        try:
            if attrs.has(field.type):  # a group of settings: apply it key by key
                if not isinstance(value, dict):
                    raise TypeError("expected an object")
                obj = attrs.evolve(
                    obj,
                    **{field.name: _apply(getattr(obj, field.name), value, f"{key}.", problems)},
                )
                continue
            typed = converter.structure(value, field.type) if value is not None else None
            obj = attrs.evolve(obj, **{field.name: typed})
        except (cattrs.BaseValidationError, TypeError, ValueError) as exc:
            detailed = isinstance(exc, cattrs.BaseValidationError)
            message = describe_error(exc) if detailed else str(exc)
            message = message.removeprefix("argument: ")
            if not message.startswith(key):
                message = f"{key}: {message}"
            problems.append(SettingsProblem(key, value, message))
    return obj


def apply_layer(current: Settings, raw: Any, problems: list[SettingsProblem]) -> Settings:
    """``current`` with every valid key of ``raw`` applied; bad keys go to ``problems``."""
    if raw is None:
        return current
    if not isinstance(raw, dict):
        problems.append(SettingsProblem("greycloud", raw, "greycloud: expected an object"))
        return current
    return _apply(current, raw, "", problems)


def resolve(layers: list[Any], previous: Settings | None) -> tuple[Settings, list[SettingsProblem]]:
    """Apply ``layers`` (lowest priority first) over the defaults.

    A rejected value leaves the key as it was in ``previous`` (the settings in
    force before this re-read) or at its default.
    """
    problems: list[SettingsProblem] = []
    settings = Settings()
    for layer in layers:
        settings = apply_layer(settings, layer, problems)
    if previous is not None and problems:
        settings = _keep_previous(settings, previous, {p.key for p in problems})
    return settings, problems


def _keep_previous(settings: Settings, previous: Settings, keys: set[str]) -> Settings:
    for key in keys:
        parts = key.split(".")
        if len(parts) == 1:
            name = _snake(parts[0])
            if hasattr(previous, name):
                settings = attrs.evolve(settings, **{name: getattr(previous, name)})
        elif len(parts) == 2 and attrs.has(type(getattr(previous, _snake(parts[0]), None))):
            group, name = _snake(parts[0]), _snake(parts[1])
            prev_group = getattr(previous, group)
            if hasattr(prev_group, name):
                new_group = attrs.evolve(
                    getattr(settings, group), **{name: getattr(prev_group, name)}
                )
                settings = attrs.evolve(settings, **{group: new_group})
    return settings


def check_with_config(
    settings: Settings,
    previous: Settings,
    problems: list[SettingsProblem],
    *,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Let ``GreyCloudConfig`` validate what it owns (e.g. the endpoint URL).

    A setting it rejects (its `ConfigError` names the field) goes back to its
    previous value; any other problem (a bad environment variable) is reported
    under the key ``environment``.
    """
    for _ in range(len(attrs.fields(Settings))):
        overrides = settings.client_config_overrides()
        try:
            GreyCloudConfig(**overrides, resolve_project=False, environ=environ)
            return settings
        except ConfigError as exc:
            name = exc.field
            if name in overrides and getattr(previous, name) != overrides[name]:
                problems.append(
                    SettingsProblem(camel(name), overrides[name], f"{camel(name)}: {exc}")
                )
                settings = attrs.evolve(settings, **{name: getattr(previous, name)})
                continue
            problems.append(SettingsProblem("environment", None, str(exc)))
            return settings
        except ValueError as exc:
            problems.append(SettingsProblem("environment", None, str(exc)))
            return settings
    return settings


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def problem_fingerprint(problem: SettingsProblem) -> str:
    """Identity used to report each bad value only once."""
    try:
        value = json.dumps(problem.value, sort_keys=True)
    except (TypeError, ValueError):
        value = repr(problem.value)
    return f"{problem.key}={value}"


def dump_settings(settings: Settings) -> dict[str, Any]:
    """camelCase view, for logs (the quota URL's password masked)."""
    dumped = converter.unstructure(settings)
    if dumped.get("quotaUrl"):
        from greycloud.quota_url import redact_url

        dumped["quotaUrl"] = redact_url(dumped["quotaUrl"])
    return dumped
