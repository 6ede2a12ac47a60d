"""Which Vertex AI quota a request counts against: (project, location, base model).

Vertex AI meters requests per project, region and base model, whatever version
suffix or resource path names the model; one rule here serves the limiter's
shared (Redis) key and the language server's one-limiter-per-quota.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from greycloud.config import GreyCloudConfig

QuotaKey = tuple[str, str, str]
"""(project, location, base model)."""

_VERSION_SUFFIX = re.compile(r"(@[\w.-]+|-\d{3})$")


def base_model(model: str) -> str:
    """``gemini-x`` from ``publishers/google/models/gemini-x-001`` or ``gemini-x@001``."""
    short = model.rstrip("/").rsplit("/", 1)[-1]
    return _VERSION_SUFFIX.sub("", short)


def quota_key(config: GreyCloudConfig) -> QuotaKey:
    """The quota a request made with ``config`` counts against."""
    project = config.project_id or ("api-key" if config.use_api_key else "")
    return (project, config.location or "", base_model(config.model or ""))
