"""The fill-in-the-middle layout of a code-completion prompt, written once.

The language server's inline completions write their prompt with these markers
(`render`); the emulator reads them back (`parse`) to answer with a
continuation of the prefix. Other files come first, each after `FILE_MARK`
and its path; the current file's text before the cursor follows `PREFIX_MARK`,
the text after it `SUFFIX_MARK`, and `MIDDLE_MARK` ends the prompt: the answer
is what goes between the two.
"""

from __future__ import annotations

from dataclasses import dataclass

FILE_MARK = "<|file_sep|>"
PREFIX_MARK = "<|fim_prefix|>"
SUFFIX_MARK = "<|fim_suffix|>"
MIDDLE_MARK = "<|fim_middle|>"
MARKS = (FILE_MARK, PREFIX_MARK, SUFFIX_MARK, MIDDLE_MARK)


@dataclass(frozen=True)
class FillInMiddle:
    """The text around the cursor a completion continues."""

    prefix: str
    suffix: str


def render_file(path: str, text: str) -> str:
    """One other file of the prompt: its path on the marker's line, then its text."""
    return f"{FILE_MARK}{path}\n{text}\n"


def render(path: str, prefix: str, suffix: str) -> str:
    """The current file's part of the prompt (the last part: it changes on every key)."""
    return f"{FILE_MARK}{path}\n{PREFIX_MARK}{prefix}{SUFFIX_MARK}{suffix}{MIDDLE_MARK}"


def parse(prompt: str) -> FillInMiddle | None:
    """The prefix and suffix of the LAST fill-in-the-middle part of ``prompt``, if any."""
    start = prompt.rfind(PREFIX_MARK)
    if start < 0:
        return None
    rest = prompt[start + len(PREFIX_MARK) :]
    prefix, found, tail = rest.partition(SUFFIX_MARK)
    if not found:
        return None
    suffix, found, _ = tail.partition(MIDDLE_MARK)
    if not found:
        return None
    return FillInMiddle(prefix, suffix)
