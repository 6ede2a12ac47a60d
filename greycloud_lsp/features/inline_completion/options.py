"""What ``greycloud.completion`` settings mean for one request: model, languages, budgets."""

from __future__ import annotations

from greycloud.config import DEFAULT_COMPLETION_MODEL
from greycloud.tokens import CHARS_PER_TOKEN
from greycloud_lsp.settings import CompletionSettings

ANY_LANGUAGE = "*"
PREFIX_SHARE = 0.6
SUFFIX_SHARE = 0.15
"""Of ``contextTokens``: the text before the cursor, the text after it; other open
documents get the rest (and whatever prefix and suffix leave unused)."""


def completion_model(settings: CompletionSettings) -> str:
    """The model completions use (the setting, else the library's completion default)."""
    return settings.model or DEFAULT_COMPLETION_MODEL


def language_enabled(settings: CompletionSettings, language_id: str | None) -> bool:
    """Whether completions run for ``language_id``: its entry, else ``"*"``, else on."""
    if not settings.enabled:
        return False
    languages = settings.languages
    if language_id is not None and language_id in languages:
        return bool(languages[language_id])
    return bool(languages.get(ANY_LANGUAGE, True))


def context_chars(settings: CompletionSettings) -> tuple[int, int, int]:
    """Characters for (prefix, suffix, everything) out of ``contextTokens``."""
    total = settings.context_tokens * CHARS_PER_TOKEN
    return int(total * PREFIX_SHARE), int(total * SUFFIX_SHARE), total
