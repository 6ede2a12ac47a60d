"""`GreyCloudConfig`: every setting GreyCloud reads, from code or from the environment.

Precedence for each field: the value passed in code, then the environment
variable(s) listed in the README's configuration table, then the default.
Validation happens in ``__post_init__`` so a bad value fails where it was written.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from greycloud.gcloud_project import cached_gcloud_project, gcloud_default_project
from greycloud.rules import (
    DEFAULT_TPM_COUNTS,
    GENERATION_BOUNDS,
    POSITIVE,
    ConfigError,
    parse_bool,
    thinking_level_name,
    tpm_counts_name,
)

DEFAULT_MODEL = "gemini-3-flash-preview"
DEFAULT_EMBEDDING_MODEL = "gemini-embedding-001"
DEFAULT_LOCATION = "us-central1"
GCLOUD_TIMEOUT_SECONDS = 5.0
# The longest wait a 429 may ask for before GreyCloud gives up at once (seconds).
DEFAULT_MAX_RETRY_DELAY = 300.0
# Inline completions' default model: the fastest and cheapest flash model.
DEFAULT_COMPLETION_MODEL = "gemini-2.5-flash-lite"

_DATASTORE_PATTERN = re.compile(
    r"^projects/[^/\s]+/locations/[^/\s]+/collections/[^/\s]+/dataStores/[^/\s]+$"
)
# Multi-region locations: their endpoints are aiplatform.LOCATION.rep.googleapis.com
# (google-genai's rule, and Google's "Vertex AI locations" page).
MULTI_REGION_LOCATIONS = frozenset({"us", "eu"})
# The fields that are booleans: from code or the environment, parsed by rules.parse_bool.
BOOLEAN_FIELDS = ("use_api_key", "auto_reauth", "use_vertex_ai_search", "resolve_project")


# Every environment variable GreyCloudConfig reads (the README's configuration table).
# Names without the GREYCLOUD_ prefix (USE_API_KEY, API_KEY_FILE, AUTO_REAUTH, SA_EMAIL,
# MODEL, ...) are the ones the `greycloud` package on PyPI reads; ours win when both are set.
ENVIRONMENT_VARIABLES: tuple[str, ...] = (
    "GREYCLOUD_USE_API_KEY",
    "USE_API_KEY",
    "GREYCLOUD_API_KEY",
    "GOOGLE_API_KEY",
    "GREYCLOUD_API_KEY_FILE",
    "API_KEY_FILE",
    "PROJECT_ID",
    "GCP_PROJECT",
    "GOOGLE_CLOUD_PROJECT",
    "LOCATION",
    "GCP_LOCATION",
    "GOOGLE_CLOUD_LOCATION",
    "GREYCLOUD_ENDPOINT",
    "GOOGLE_VERTEX_BASE_URL",
    "GREYCLOUD_MODEL",
    "MODEL",
    "GREYCLOUD_SA_EMAIL",
    "SA_EMAIL",
    "GREYCLOUD_IAM_ENDPOINT",
    "GREYCLOUD_AUTO_REAUTH",
    "AUTO_REAUTH",
    "GREYCLOUD_TEMPERATURE",
    "GREYCLOUD_TOP_P",
    "GREYCLOUD_MAX_OUTPUT_TOKENS",
    "GREYCLOUD_SEED",
    "GREYCLOUD_SYSTEM_INSTRUCTION",
    "GREYCLOUD_THINKING_LEVEL",
    "GREYCLOUD_USE_VERTEX_AI_SEARCH",
    "VERTEX_AI_SEARCH_DATASTORE",
    "GCS_BUCKET",
    "BATCH_GCS_BUCKET",
    "BATCH_LOCATION",
    "BATCH_POLL_INTERVAL",
    "GREYCLOUD_RPM",
    "GREYCLOUD_TPM",
    "GREYCLOUD_TPM_COUNTS",
    "GREYCLOUD_MAX_CONCURRENCY",
    "GREYCLOUD_QUOTA_URL",
    "GREYCLOUD_REQUEST_TIMEOUT",
    "GREYCLOUD_MAX_RETRY_DELAY",
    "GREYCLOUD_EMBEDDING_MODEL",
)


def _readers(
    environ: Mapping[str, str],
) -> tuple[Callable[..., str | None], Callable[..., bool], Callable[[str, type], Any]]:
    """``_env``, ``_env_bool`` and ``_env_number`` reading ``environ``."""

    def env_bool(field: str, default: bool, *names: str) -> bool:
        return _env_bool(field, default, *names, environ=environ)

    return (
        lambda *names: _env(*names, environ=environ),
        env_bool,
        lambda name, kind: _env_number(name, kind, environ=environ),
    )


def _env(*names: str, environ: Mapping[str, str] = os.environ) -> str | None:
    for name in names:
        value = environ.get(name)
        if value is not None and value.strip() != "":
            return value.strip()
    return None


def _env_bool(
    field: str, default: bool, *names: str, environ: Mapping[str, str] = os.environ
) -> bool:
    """The first of ``names`` set (and not blank) in ``environ``, parsed strictly for ``field``."""
    for name in names:
        raw = environ.get(name)
        if raw is not None and raw.strip() != "":
            return parse_bool(field, raw, source=f"environment variable {name}")
    return default


def _env_number(name: str, kind: type, *, environ: Mapping[str, str] = os.environ) -> Any:
    raw = _env(name, environ=environ)
    if raw is None:
        return None
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a valid {kind.__name__}.") from None


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def vertex_endpoint_for(location: str) -> str:
    """Google's public Vertex AI endpoint for ``location`` (the host google-genai uses).

    ``global`` is aiplatform.googleapis.com, the multi-regions ``us`` and ``eu``
    aiplatform.us.rep.googleapis.com / aiplatform.eu.rep.googleapis.com, and a
    region such as ``us-central1`` us-central1-aiplatform.googleapis.com.
    """
    if location == "global":
        return "https://aiplatform.googleapis.com/"
    if location in MULTI_REGION_LOCATIONS:
        return f"https://aiplatform.{location}.rep.googleapis.com/"
    return f"https://{location}-aiplatform.googleapis.com/"


@dataclass
class GreyCloudConfig:
    """Configuration shared by every GreyCloud client.

    Any field left as ``None`` is filled from the environment (see the README's
    configuration table). An invalid value raises `ConfigError` (a ``ValueError``)
    whose message and ``field`` attribute name the field; a malformed environment
    variable raises ``ValueError`` naming the variable.
    """

    project_id: str | None = None
    location: str | None = None
    endpoint: str | None = None
    model: str | None = None

    use_api_key: bool | None = None
    api_key: str | None = field(default=None, repr=False)
    api_key_file: str | None = None
    sa_email: str | None = None
    iam_endpoint: str | None = None
    auto_reauth: bool | None = None

    temperature: float | None = None
    top_p: float | None = None
    max_output_tokens: int | None = None
    seed: int | None = None
    safety_settings: list[Any] | None = None
    system_instruction: str | None = None
    thinking_level: str | None = None

    use_vertex_ai_search: bool | None = None
    vertex_ai_search_datastore: str | None = None

    gcs_bucket: str | None = None
    batch_gcs_bucket: str | None = None
    batch_location: str | None = None
    batch_poll_interval: float | None = None

    rpm: int | None = None
    tpm: int | None = None
    tpm_counts: str | None = None
    """What ``tpm`` counts: ``input`` (default), ``uncached-input`` or ``total``."""
    max_concurrency: int | None = None
    quota_url: str | None = field(default=None, repr=False)

    request_timeout: float | None = None
    max_retry_delay: float | None = None
    resolve_project: bool = field(default=True, repr=False)
    embedding_model: str | None = field(default=None, kw_only=True)
    """Default model of ``embed_content`` (``GREYCLOUD_EMBEDDING_MODEL``)."""
    environ: Mapping[str, str] | None = field(default=None, repr=False, compare=False, kw_only=True)
    """The environment to read (default ``os.environ``): e.g. one editor session's."""

    def __post_init__(self) -> None:
        self._parse_booleans()
        self._fill_from_environment()
        self._validate()

    def _parse_booleans(self) -> None:
        """Boolean fields given in code, strictly: ``"false"`` is False, ``"maybe"`` an error."""
        for name in BOOLEAN_FIELDS:
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, parse_bool(name, value))

    # -- filling ---------------------------------------------------------

    def _fill_from_environment(self) -> None:
        _env, _env_bool, _env_number = _readers(
            os.environ if self.environ is None else self.environ
        )
        if self.use_api_key is None:
            self.use_api_key = _env_bool(
                "use_api_key", False, "GREYCLOUD_USE_API_KEY", "USE_API_KEY"
            )
        if self.api_key is None:
            self.api_key = _env("GREYCLOUD_API_KEY", "GOOGLE_API_KEY")
        if self.api_key_file is None:
            self.api_key_file = _env("GREYCLOUD_API_KEY_FILE", "API_KEY_FILE")
        if self.project_id is None:
            self.project_id = _env("PROJECT_ID", "GCP_PROJECT", "GOOGLE_CLOUD_PROJECT")
        if self.project_id is None and self.resolve_project and not self.use_api_key:
            self._project_from_gcloud()
        if self.location is None:
            self.location = _env("LOCATION", "GCP_LOCATION", "GOOGLE_CLOUD_LOCATION")
            self.location = self.location or DEFAULT_LOCATION
        if self.endpoint is None:
            self.endpoint = _env("GREYCLOUD_ENDPOINT", "GOOGLE_VERTEX_BASE_URL")
        if self.model is None:
            self.model = _env("GREYCLOUD_MODEL", "MODEL") or DEFAULT_MODEL
        if self.embedding_model is None:
            self.embedding_model = _env("GREYCLOUD_EMBEDDING_MODEL") or DEFAULT_EMBEDDING_MODEL
        if self.sa_email is None:
            self.sa_email = _env("GREYCLOUD_SA_EMAIL", "SA_EMAIL")
        if self.iam_endpoint is None:
            self.iam_endpoint = _env("GREYCLOUD_IAM_ENDPOINT")
        if self.auto_reauth is None:
            self.auto_reauth = _env_bool(
                "auto_reauth", True, "GREYCLOUD_AUTO_REAUTH", "AUTO_REAUTH"
            )
        if self.temperature is None:
            self.temperature = _env_number("GREYCLOUD_TEMPERATURE", float)
        if self.top_p is None:
            self.top_p = _env_number("GREYCLOUD_TOP_P", float)
        if self.max_output_tokens is None:
            self.max_output_tokens = _env_number("GREYCLOUD_MAX_OUTPUT_TOKENS", int)
        if self.seed is None:
            self.seed = _env_number("GREYCLOUD_SEED", int)
        if self.system_instruction is None:
            self.system_instruction = _env("GREYCLOUD_SYSTEM_INSTRUCTION")
        if self.thinking_level is None:
            self.thinking_level = _env("GREYCLOUD_THINKING_LEVEL")
        if self.use_vertex_ai_search is None:
            self.use_vertex_ai_search = _env_bool(
                "use_vertex_ai_search", False, "GREYCLOUD_USE_VERTEX_AI_SEARCH"
            )
        if self.vertex_ai_search_datastore is None:
            self.vertex_ai_search_datastore = _env("VERTEX_AI_SEARCH_DATASTORE")
        if self.gcs_bucket is None:
            self.gcs_bucket = _env("GCS_BUCKET")
        if self.batch_gcs_bucket is None:
            self.batch_gcs_bucket = _env("BATCH_GCS_BUCKET") or self.gcs_bucket
        if self.batch_location is None:
            self.batch_location = _env("BATCH_LOCATION") or self.location
        if self.batch_poll_interval is None:
            self.batch_poll_interval = _env_number("BATCH_POLL_INTERVAL", float) or 30.0
        if self.rpm is None:
            self.rpm = _env_number("GREYCLOUD_RPM", int)
        if self.tpm is None:
            self.tpm = _env_number("GREYCLOUD_TPM", int)
        if self.tpm_counts is None:
            self.tpm_counts = _env("GREYCLOUD_TPM_COUNTS") or DEFAULT_TPM_COUNTS
        if self.max_concurrency is None:
            self.max_concurrency = _env_number("GREYCLOUD_MAX_CONCURRENCY", int)
        if self.quota_url is None:
            self.quota_url = _env("GREYCLOUD_QUOTA_URL")
        if self.request_timeout is None:
            self.request_timeout = _env_number("GREYCLOUD_REQUEST_TIMEOUT", float) or 120.0
        if self.max_retry_delay is None:
            self.max_retry_delay = (
                _env_number("GREYCLOUD_MAX_RETRY_DELAY", float) or DEFAULT_MAX_RETRY_DELAY
            )

    def _project_from_gcloud(self) -> None:
        """Ask ``gcloud`` for the project, unless that would block a running event loop.

        Inside a running loop only a cached answer is used; otherwise the
        look-up is left to `resolve_project_id`, which the async client runs in
        a worker thread before it connects.
        """
        environ = os.environ if self.environ is None else self.environ
        if _in_event_loop():
            known, project = cached_gcloud_project(environ)
            self.project_id = project
            self._project_pending = not known
        else:
            self.project_id = gcloud_default_project(GCLOUD_TIMEOUT_SECONDS, environ=environ)

    def resolve_project_id(self) -> str | None:
        """The project, running the deferred ``gcloud`` look-up if one is pending (blocks)."""
        if self.project_id is None and getattr(self, "_project_pending", False):
            self.project_id = gcloud_default_project(
                GCLOUD_TIMEOUT_SECONDS,
                environ=os.environ if self.environ is None else self.environ,
            )
            self._project_pending = False
        return self.project_id

    @property
    def project_pending(self) -> bool:
        """True while the ``gcloud`` project look-up was deferred (see `resolve_project_id`)."""
        return bool(getattr(self, "_project_pending", False)) and self.project_id is None

    # -- validation ------------------------------------------------------

    def _validate(self) -> None:
        if self.thinking_level is not None:
            self.thinking_level = thinking_level_name(self.thinking_level)
        self.tpm_counts = tpm_counts_name(self.tpm_counts or DEFAULT_TPM_COUNTS)
        for name, bound in GENERATION_BOUNDS.items():
            bound.check(name, getattr(self, name))
        for name in (
            "rpm",
            "tpm",
            "max_concurrency",
            "batch_poll_interval",
            "request_timeout",
            "max_retry_delay",
        ):
            POSITIVE.check(name, getattr(self, name))
        if self.vertex_ai_search_datastore is not None and not _DATASTORE_PATTERN.match(
            self.vertex_ai_search_datastore
        ):
            raise ConfigError(
                f"vertex_ai_search_datastore={self.vertex_ai_search_datastore!r} is malformed: "
                "use projects/PROJECT/locations/LOCATION/collections/COLLECTION/dataStores/ID.",
                field="vertex_ai_search_datastore",
            )
        if self.use_vertex_ai_search and not self.vertex_ai_search_datastore:
            raise ConfigError(
                "use_vertex_ai_search=True needs vertex_ai_search_datastore: set it to "
                "projects/PROJECT/locations/LOCATION/collections/COLLECTION/dataStores/ID "
                "(or VERTEX_AI_SEARCH_DATASTORE), or turn search off.",
                field="use_vertex_ai_search",
            )
        if self.safety_settings is not None and not isinstance(self.safety_settings, list):
            raise ConfigError(
                "safety_settings must be a list of types.SafetySetting or dicts "
                "with 'category' and 'threshold'.",
                field="safety_settings",
            )
        if self.endpoint is not None and not re.match(r"^https?://", self.endpoint):
            raise ConfigError(
                f"endpoint={self.endpoint!r} is not a URL: use e.g. http://127.0.0.1:8080/.",
                field="endpoint",
            )
        if self.quota_url is not None:
            from greycloud.quota_url import QuotaOptions

            QuotaOptions.parse(self.quota_url)  # raises naming the problem, never the password
        if self.api_key_file is not None:
            self.api_key_file = str(Path(self.api_key_file).expanduser())

    # -- derived values --------------------------------------------------

    @property
    def base_url(self) -> str:
        """The endpoint requests go to: the override, else Google's for the location."""
        return self.endpoint or vertex_endpoint_for(self.location or DEFAULT_LOCATION)

    def replace(self, **changes: Any) -> GreyCloudConfig:
        """A copy with ``changes`` applied and validated again."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return GreyCloudConfig(**values)
