"""Typed-ahead reuse: while the user types what the last suggestion says, answer from it.

No model call: the rest of the suggestion after the typed characters is the
answer, as long as the text after the cursor is unchanged.
"""

from __future__ import annotations

import attrs


@attrs.define
class Suggestion:
    """The last suggestion of a document: where it was made and what it continues with."""

    prefix: str
    """The document's text before the cursor when it was made."""
    suffix: str
    """The document's text after the cursor then."""
    text: str
    """What goes at the cursor."""
    item_id: str


def reuse(last: Suggestion | None, prefix: str, suffix: str) -> str | None:
    """The rest of ``last`` if the text now is its prefix plus the start of its text."""
    if last is None or suffix != last.suffix or not prefix.startswith(last.prefix):
        return None
    typed = prefix[len(last.prefix) :]
    if not last.text.startswith(typed) or len(typed) >= len(last.text):
        return None
    return last.text[len(typed) :]
