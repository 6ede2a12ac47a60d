"""Which Vertex AI quota a request counts against: (project, location, base model).

Vertex AI meters requests per project, region and base model, whatever version
suffix or resource path names the model; one rule here serves the limiter's
shared (Redis) key and the language server's one-limiter-per-quota.
`tpm_tokens` is what one request charges to the tokens-per-minute quota.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

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


def tpm_tokens(
    counts: str, *, prompt: int, total: int, cached: int = 0, tool_prompt: int = 0
) -> int:
    """Tokens one request charges to a tpm quota counting ``counts`` (`rules.TPM_COUNTS`).

    ``prompt`` includes its ``cached`` part (as ``promptTokenCount`` does).
    """
    if counts == "total":
        return total
    if counts == "uncached-input":
        return max(0, prompt - cached) + tool_prompt
    return prompt + tool_prompt


def usage_tpm_tokens(usage: Any, counts: str) -> int | None:
    """`tpm_tokens` of a response's ``usage_metadata``; None when it reports no usage."""
    if usage is None:
        return None
    total = usage.total_token_count
    prompt = usage.prompt_token_count
    if (total if counts == "total" else prompt) is None:
        return None
    return tpm_tokens(
        counts,
        prompt=prompt or 0,
        total=total or 0,
        cached=usage.cached_content_token_count or 0,
        tool_prompt=usage.tool_use_prompt_token_count or 0,
    )
