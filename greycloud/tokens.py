"""Fast, offline token estimates.

Gemini's tokenizer averages about four characters of English or code per
token. The estimate is ``ceil(characters / 4)``: constant time for a Python
string, never 0 for non-empty text, and used wherever an exact count is not
available yet (rate-limiter charges, the editor's instant count, and the
fallback when the countTokens API fails).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

CHARS_PER_TOKEN = 4
# What Vertex bills for one image, PDF page or other non-text part, roughly.
NON_TEXT_PART_TOKENS = 258


def estimate_tokens(text: str) -> int:
    """Approximate token count of ``text``: 0 only for the empty string."""
    if not text:
        return 0
    return max(1, math.ceil(len(text) / CHARS_PER_TOKEN))


def estimate_parts(texts: Iterable[str], non_text_parts: int = 0) -> int:
    """Estimate for several text pieces plus ``non_text_parts`` media parts."""
    return sum(estimate_tokens(t) for t in texts) + non_text_parts * NON_TEXT_PART_TOKENS
