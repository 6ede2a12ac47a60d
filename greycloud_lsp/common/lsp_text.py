"""LSP text rules, written once: where lines break and how columns count.

LSP positions are (line, character). Lines break after ``\\n``, ``\\r\\n`` and
``\\r`` only (not at the other breaks ``str.splitlines`` knows: ``\\x0b \\x0c
\\x1c-\\x1e \\x85 \\u2028 \\u2029``). ``character`` counts code units of the
negotiated position encoding (``utf-16`` by default, ``utf-8``, ``utf-32``);
a column past the line's content is clamped to it (the line break is never
inside a line's columns), and a column inside a character (half a surrogate
pair) lands after that character. A line past the end means the end.

`LineIndex` keeps a document as its list of lines, so an incremental change
costs the length of the lines it touches, not of the document. The forwarder's
document mirror and the daemon's documents (``common/documents.py``) both use
it. Standard library only: the forwarder imports this module.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_LSP_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")
_ASCII_EXTRA_BREAKS = "\x0b\x0c\x1c\x1d\x1e"
_OTHER_EXTRA_BREAKS = "\x85\u2028\u2029"
ENCODINGS = ("utf-8", "utf-16", "utf-32")


def has_extra_breaks(text: str) -> bool:
    """True if ``splitlines`` would break ``text`` somewhere LSP does not."""
    if any(char in text for char in _ASCII_EXTRA_BREAKS):
        return True
    return not text.isascii() and any(char in text for char in _OTHER_EXTRA_BREAKS)


def lsp_lines(text: str) -> list[str]:
    """``text`` split after ``\\n``, ``\\r\\n`` and ``\\r`` only, ends kept (no empty last line)."""
    if not has_extra_breaks(text):
        return text.splitlines(True)
    return _LSP_LINE.findall(text)


def split_lines(text: str) -> list[str]:
    """Every LSP line of ``text``, ends kept; the last has no break (``""`` after a final break)."""
    lines = lsp_lines(text)
    if not lines or lines[-1][-1] in "\r\n":
        lines.append("")
    return lines


def content_length(line: str) -> int:
    """Length of ``line`` without its line break."""
    if line.endswith("\r\n"):
        return len(line) - 2
    if line.endswith(("\n", "\r")):
        return len(line) - 1
    return len(line)


def _units(char: str, encoding: str) -> int:
    if encoding == "utf-8":
        return len(char.encode("utf-8", "surrogatepass"))
    if encoding == "utf-32":
        return 1
    return 2 if ord(char) > 0xFFFF else 1


def index_in_line(line: str, character: int, encoding: str = "utf-16") -> int:
    """Index into ``line`` of column ``character`` (code units of ``encoding``), clamped."""
    end = content_length(line)
    if character <= 0:
        return 0
    if encoding == "utf-32" or line.isascii():
        return min(character, end)
    if encoding != "utf-8" and max(line[:end] or "\0") <= "\uffff":
        return min(character, end)
    units = 0
    for index in range(end):
        if units >= character:
            return index
        units += _units(line[index], encoding)
    return end


def column_in_line(line: str, index: int, encoding: str = "utf-16") -> int:
    """The column (code units of ``encoding``) of index ``index`` into ``line``."""
    head = line[: min(index, content_length(line))]
    if encoding == "utf-32" or head.isascii():
        return len(head)
    return sum(_units(char, encoding) for char in head)


class LineIndex:
    """A document as its LSP lines; incremental changes touch only the lines they edit."""

    __slots__ = ("_lines", "_text")

    def __init__(self, text: str = "") -> None:
        self._lines: list[str] = []
        self._text: str | None = None
        self.set_text(text)

    def set_text(self, text: str) -> None:
        """Replace the whole text."""
        self._lines = split_lines(text)
        self._text = text

    @property
    def text(self) -> str:
        """The whole text (joined once after a change, then kept)."""
        if self._text is None:
            self._text = "".join(self._lines)
        return self._text

    @property
    def lines(self) -> list[str]:
        """The lines, ends kept, without the empty line after a final break (as `lsp_lines`)."""
        return self._lines[:-1] if self._lines[-1] == "" else list(self._lines)

    def end(self, encoding: str = "utf-16") -> tuple[int, int]:
        """The position after the last character."""
        last = len(self._lines) - 1
        return last, column_in_line(self._lines[last], len(self._lines[last]), encoding)

    def _locate(self, line: int, character: int, encoding: str) -> tuple[int, int]:
        """(line, index in that line) of an LSP position, clamped into the document."""
        last = len(self._lines) - 1
        if line > last:
            return last, len(self._lines[last])
        line = max(line, 0)
        return line, index_in_line(self._lines[line], character, encoding)

    def offset(self, line: int, character: int, encoding: str = "utf-16") -> int:
        """Index into `text` of an LSP position (costs the lines before it)."""
        row, index = self._locate(line, character, encoding)
        return sum(map(len, self._lines[:row])) + index

    def replace(
        self, start: tuple[int, int], end: tuple[int, int], new_text: str, encoding: str = "utf-16"
    ) -> None:
        """Replace the text between two LSP positions (an end before the start means the start)."""
        lines = self._lines
        first, begin = self._locate(*start, encoding)
        last, stop = self._locate(*end, encoding)
        if (last, stop) < (first, begin):
            last, stop = first, begin
        segment = lines[first][:begin] + new_text + lines[last][stop:]
        if first > 0 and segment.startswith("\n") and lines[first - 1].endswith("\r"):
            first -= 1  # "\r" + "\n" are one break now
            segment = lines[first] + segment
        pieces = split_lines(segment)
        if last < len(lines) - 1:
            pieces.pop()  # the segment ends with line `last`'s own break
        lines[first : last + 1] = pieces
        self._text = None

    def apply_change(self, change: Mapping[str, Any], encoding: str = "utf-16") -> None:
        """Apply one ``TextDocumentContentChangeEvent`` (JSON form: a range, or the whole text)."""
        span = change.get("range")
        new_text = change.get("text", "")
        if not span:
            self.set_text(new_text)
            return
        start, end = span["start"], span["end"]
        self.replace(
            (start["line"], start["character"]), (end["line"], end["character"]), new_text, encoding
        )


def apply_change(text: str, change: Mapping[str, Any], encoding: str = "utf-16") -> str:
    """``text`` after one ``TextDocumentContentChangeEvent`` (JSON form)."""
    index = LineIndex(text)
    index.apply_change(change, encoding)
    return index.text
