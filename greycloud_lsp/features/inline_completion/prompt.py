"""The completion prompt (stable parts first) and the clean-up of what the model answers.

Order, for Gemini's implicit caching (a shared prefix is billed at the cached
rate): the system instruction, then the other open files, then the current
file's prefix and suffix, which change on every key. With a workspace cache
(``cachedContent``) the instruction goes first in the user turn instead (a
cached request carries no system instruction of its own).

The answer is cleaned: markdown fences and echoed markers removed, cut to one
line when text follows the cursor on its line, and any overlap with the text
after the cursor trimmed.
"""

from __future__ import annotations

import re
from typing import Any

from greycloud import fill_in_middle
from greycloud_lsp.features.inline_completion.context import CompletionContext, Cursor

SYSTEM_INSTRUCTION = (
    "You are a code completion engine. The user turn holds files, each after "
    f"{fill_in_middle.FILE_MARK} and its path; the last one is the file being edited, "
    f"with the text before the cursor after {fill_in_middle.PREFIX_MARK} and the text "
    f"after it after {fill_in_middle.SUFFIX_MARK}. Answer with only the text that goes "
    f"at {fill_in_middle.MIDDLE_MARK}: no explanation, no markdown fences, never the text "
    "that already follows the cursor. Answer with nothing if nothing fits."
)
_FENCE = re.compile(r"^\s*```[\w+-]*[ \t]*\n(.*?)\n?```\s*$", re.S)


def build_request(context: CompletionContext, *, cached: bool) -> tuple[list[Any], str | None]:
    """(contents, system instruction) for ``context``; ``cached``: a workspace cache is used."""
    from google.genai import types as gtypes

    parts = [fill_in_middle.render_file(path, text) for path, text in context.others]
    parts.append(fill_in_middle.render(context.path, context.prefix, context.suffix))
    if cached:
        parts.insert(0, SYSTEM_INSTRUCTION + "\n")
    contents = [gtypes.Content(role="user", parts=[gtypes.Part.from_text(text=p) for p in parts])]
    return contents, None if cached else SYSTEM_INSTRUCTION


def clean(answer: str, cursor: Cursor) -> str:
    """The model's ``answer`` as text to insert at ``cursor`` ('' if nothing is left)."""
    text = answer
    fenced = _FENCE.match(text)
    if fenced is not None:
        text = fenced.group(1)
    for mark in fill_in_middle.MARKS:
        text = text.split(mark, 1)[0]
    if cursor.line_suffix.strip():  # text follows on this line: complete the line only
        text = text.split("\n", 1)[0]
    text = trim_overlap(text, cursor.suffix)
    return text if text.strip() else ""


def trim_overlap(text: str, suffix: str) -> str:
    """``text`` without its longest end that the ``suffix`` starts with (ignoring the
    suffix's leading blanks), so accepting it never repeats what follows the cursor."""
    following = suffix.lstrip(" \t")
    for size in range(min(len(text), len(following)), 0, -1):
        if text.endswith(following[:size]):
            return text[:-size]
    return text
