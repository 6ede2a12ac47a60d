"""Value rules written once: the ranges of generation settings and the number checks.

`GreyCloudConfig`, per-request options (``greycloud._request``), the language
server's settings and its command arguments all check their numbers against
the `Bound` objects here, so a range changes in one place. A value that breaks
a rule raises `ConfigError`, whose ``field`` names the setting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class ConfigError(ValueError):
    """A setting has a value GreyCloud cannot use.

    ``field`` is the `GreyCloudConfig` field (snake_case) the value was given
    for, or None when the problem is not one field's.
    """

    def __init__(self, message: str, *, field: str | None):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Bound:
    """A number rule: at least (or, with ``exclusive``, more than) ``low``, at most ``high``."""

    low: float
    high: float | None = None
    exclusive: bool = False

    def admits(self, value: Any) -> bool:
        """Whether ``value`` is a number (not a bool) inside the bound."""
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value != value:
            return False  # not a number, a bool, or NaN
        if value < self.low or (self.exclusive and value == self.low):
            return False
        return self.high is None or value <= self.high

    @property
    def requirement(self) -> str:
        """The rule in words, e.g. ``between 0 and 2`` or ``greater than 0``."""
        if self.high is not None:
            return f"between {self.low:g} and {self.high:g}"
        return f"greater than {self.low:g}" if self.exclusive else f"{self.low:g} or greater"

    def check(self, field: str, value: Any) -> None:
        """Raise `ConfigError` naming ``field`` unless ``value`` is None or admitted."""
        if value is None or self.admits(value):
            return
        if self.high is not None:
            message = (
                f"{field}={value!r} is out of range: "
                f"use a number from {float(self.low)} to {float(self.high)}."
            )
        else:
            message = f"{field}={value!r} is not valid: use a number {self.requirement}."
        raise ConfigError(message, field=field)


# -- booleans ----------------------------------------------------------------------

TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off")


def parse_bool(field: str, value: Any, *, source: str | None = None) -> bool:
    """``value`` as a bool: a bool, 1/0, or one of `TRUE_WORDS` / `FALSE_WORDS`.

    Words are case-insensitive and may have surrounding spaces. Anything else
    (``"maybe"``, ``""``, ``2``, None) raises `ConfigError` naming ``field`` (and
    ``source``, e.g. the environment variable it came from) and the accepted
    values. So ``"false"`` is False, never a truthy string.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    where = f" (from {source})" if source else ""
    raise ConfigError(
        f"{field}={_shown(value)}{where} is not a boolean: use true/false, 1/0, yes/no or on/off.",
        field=field,
    )


SHOWN_CHARACTERS = 24
"""A bad value longer than this is not quoted in errors: it may be a secret put in the
wrong variable (``USE_API_KEY=<the key>``)."""


def _shown(value: Any) -> str:
    """``value`` for an error message: quoted unless it is long or shaped like a credential."""
    from greycloud.redaction import contains_secret

    text = repr(value)
    if len(text) > SHOWN_CHARACTERS or contains_secret(text):
        return f"<a value of {len(str(value))} characters, not shown>"
    return text


# -- embeddings --------------------------------------------------------------------


@dataclass(frozen=True)
class EmbeddingLimits:
    """What one Vertex AI embedding request may carry.

    ``max_inputs`` texts (instances) per request, ``max_tokens`` input tokens in
    the whole request (None: no request-wide limit beyond one input's), and
    ``max_input_tokens`` per input (longer inputs are truncated by the API unless
    ``auto_truncate=False``, which makes them a 400).
    """

    max_inputs: int
    max_tokens: int | None
    max_input_tokens: int


EMBEDDING_LIMITS_URL = (
    "https://cloud.google.com/vertex-ai/generative-ai/docs/embeddings/get-text-embeddings"
)
# Vertex AI "Get text embeddings", section "API limits" (EMBEDDING_LIMITS_URL), and the
# Vertex AI quotas page ("Text embedding limits"): each request is limited to 250 input
# texts and 20,000 input tokens (more is a 400); each text to 2,048 tokens (truncated).
PREDICT_EMBEDDING_LIMITS = EmbeddingLimits(max_inputs=250, max_tokens=20_000, max_input_tokens=2048)
# The same page: "gemini-embedding-001 supports one instance per request" (its
# sequence length is 2,048 tokens); google-genai's maintainers say the same of
# gemini-embedding-2 on Vertex AI (python-genai issue 2165), whose inputs go to 8,192.
GEMINI_EMBEDDING_LIMITS = EmbeddingLimits(max_inputs=1, max_tokens=None, max_input_tokens=2048)
GEMINI_EMBEDDING_2_LIMITS = EmbeddingLimits(max_inputs=1, max_tokens=None, max_input_tokens=8192)

# Words of the 400 errors Vertex AI sends for an embedding request over its limits.
TOO_MANY_INSTANCES = "too many instances"
TOO_MANY_INPUT_TOKENS = "input token count"


def uses_embed_content_api(model: str) -> bool:
    """Whether Vertex AI embeds with ``model`` through ``:embedContent`` (Gemini and
    MaaS embedding models) rather than ``:predict`` (``text-embedding-*``,
    ``text-multilingual-embedding-*``): google-genai 3.x's rule."""
    model_id = model.rstrip("/").rsplit("/", 1)[-1]
    return "gemini" in model_id or "maas" in model_id


def embedding_limits(model: str) -> EmbeddingLimits:
    """The per-request limits of embedding model ``model`` (see `EmbeddingLimits`)."""
    if not uses_embed_content_api(model):
        return PREDICT_EMBEDDING_LIMITS
    model_id = model.rstrip("/").rsplit("/", 1)[-1]
    if model_id.startswith(("gemini-embedding-001", "gemini-embedding-exp")):
        return GEMINI_EMBEDDING_LIMITS
    return GEMINI_EMBEDDING_2_LIMITS


POSITIVE = Bound(0, exclusive=True)
NON_NEGATIVE = Bound(0)
IDLE_TIMEOUT = Bound(0, 7 * 24 * 3600)  # seconds the LSP daemon outlives its last window
TEMPERATURE = Bound(0.0, 2.0)
TOP_P = Bound(0.0, 1.0)
MAX_OUTPUT_TOKENS = POSITIVE
SHARE = Bound(0.0, 1.0, exclusive=True)  # a share of a quota: more than 0, at most all of it

GENERATION_BOUNDS: dict[str, Bound] = {
    "temperature": TEMPERATURE,
    "top_p": TOP_P,
    "max_output_tokens": MAX_OUTPUT_TOKENS,
}
"""The per-request generation numbers and their rules (snake_case names)."""

THINKING_LEVELS = ("minimal", "low", "medium", "high")


def thinking_level_name(level: Any) -> str:
    """``level`` as one of `THINKING_LEVELS` (case-insensitive), else `ConfigError`."""
    name = str(level).lower()
    if name not in THINKING_LEVELS:
        raise ConfigError(
            f"thinking_level={level!r} is not valid: use one of {', '.join(THINKING_LEVELS)}.",
            field="thinking_level",
        )
    return name


TPM_COUNTS = ("input", "uncached-input", "total")
"""What a tokens-per-minute quota counts (``tpm_counts``), from usage metadata:

* ``input`` (default): the prompt, cached part included (``promptTokenCount``
  plus ``toolUsePromptTokenCount``), as Vertex AI's Gemini quota
  ``generate_content_input_tokens_per_minute_per_base_model`` counts;
* ``uncached-input``: the prompt without its ``cachedContentTokenCount``;
* ``total``: everything, answer and thinking too (``totalTokenCount``).
"""
DEFAULT_TPM_COUNTS = "input"


def tpm_counts_name(value: Any) -> str:
    """``value`` as one of `TPM_COUNTS` (case-insensitive), else `ConfigError`."""
    name = str(value).strip().lower()
    if name not in TPM_COUNTS:
        raise ConfigError(
            f"tpm_counts={value!r} is not valid: use one of {', '.join(TPM_COUNTS)} "
            "(what the tokens-per-minute quota counts).",
            field="tpm_counts",
        )
    return name
