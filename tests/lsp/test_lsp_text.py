"""One set of LSP text rules: the forwarder's mirror, the daemon's documents and pygls agree.

Random documents (surrogate pairs, ``\\r\\n``, lone ``\\r``, form feeds and
Unicode line separators) get random edit sequences; after each sequence the
forwarder's `SessionMirror` must hold the same text as

* pygls' own ``TextDocument`` (for the positions pygls handles as LSP says:
  inside the document, columns within a line's content, no extra breaks);
* the daemon's `LspTextDocument` in a pygls workspace, for any position;
* a slow reference written from the LSP specification, for any position.
"""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lsprotocol import types
from pygls.workspace import TextDocument
from pygls.workspace.position_codec import PositionCodec

from greycloud_lsp.common.documents import LspWorkspace
from greycloud_lsp.common.lsp_text import LineIndex, lsp_lines, split_lines
from greycloud_lsp.forwarder.document_mirror import SessionMirror

URI = "file:///doc.txt"
PIECES = ["a", "bc", "é", "😀", "𝄞x", "\n", "\r\n", "\r", " ", "中文"]
EXTRA = ["\x0c", "\u2028", "\x85"]
ENCODINGS = ["utf-16", "utf-8", "utf-32"]


def texts(extra: bool) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(PIECES + (EXTRA if extra else [])), max_size=30).map("".join)


# -- a reference implementation, straight from the specification -------------


def _width(char: str, encoding: str) -> int:
    if encoding == "utf-8":
        return len(char.encode("utf-8"))
    if encoding == "utf-16":
        return 2 if ord(char) > 0xFFFF else 1
    return 1


def reference_offset(text: str, line: int, character: int, encoding: str) -> int:
    starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]
    if line >= len(starts):
        return len(text)
    start = starts[line]
    found = re.compile(r"\r\n|\r|\n").search(text, start)
    end = found.start() if found else len(text)
    units, index = 0, start
    while index < end and units < character:
        units += _width(text[index], encoding)
        index += 1
    return index


def reference_apply(text: str, change: dict, encoding: str) -> str:
    if "range" not in change:
        return change["text"]
    start, end = change["range"]["start"], change["range"]["end"]
    begin = reference_offset(text, start["line"], start["character"], encoding)
    stop = reference_offset(text, end["line"], end["character"], encoding)
    return text[:begin] + change["text"] + text[max(begin, stop) :]


# -- edits ---------------------------------------------------------------------


def _units(line: str, encoding: str) -> int:
    content = line.rstrip("\r\n")
    return sum(_width(c, encoding) for c in content)


@st.composite
def valid_change(draw: st.DrawFn, text: str, encoding: str, extra: bool) -> dict:
    """A change whose positions are inside the document (what editors send)."""
    if draw(st.integers(0, 19)) == 0:
        return {"text": draw(texts(extra))}
    lines = split_lines(text)  # every line, the empty last one included

    def position() -> tuple[int, int]:
        line = draw(st.integers(0, len(lines) - 1))
        return line, draw(st.integers(0, _units(lines[line], encoding)))

    start, end = sorted([position(), position()])
    return {
        "range": {
            "start": {"line": start[0], "character": start[1]},
            "end": {"line": end[0], "character": end[1]},
        },
        "text": draw(texts(extra)),
    }


@st.composite
def any_change(draw: st.DrawFn, extra: bool) -> dict:
    """A change with any position: past the line's end, past the document, reversed."""
    numbers = st.integers(0, 12)
    return {
        "range": {
            "start": {"line": draw(numbers), "character": draw(numbers)},
            "end": {"line": draw(numbers), "character": draw(numbers)},
        },
        "text": draw(texts(extra)),
    }


@st.composite
def sessions(draw: st.DrawFn, *, valid: bool, extra: bool) -> tuple[str, str, list[list[dict]]]:
    encoding = draw(st.sampled_from(ENCODINGS))
    text = draw(texts(extra))
    current = text
    batches = []
    for _ in range(draw(st.integers(1, 6))):
        batch = []
        for _ in range(draw(st.integers(1, 5))):
            if valid:
                change = draw(valid_change(current, encoding, extra))
            else:
                change = draw(any_change(extra))
            current = reference_apply(current, change, encoding)
            batch.append(change)
        batches.append(batch)
    return encoding, text, batches


def mirror_text(encoding: str, text: str, batches: list[list[dict]]) -> str:
    mirror = SessionMirror()
    mirror.observe_initialize_result({"capabilities": {"positionEncoding": encoding}})
    item = {"uri": URI, "languageId": "text", "version": 1, "text": text}
    mirror.observe_client({"method": "textDocument/didOpen", "params": {"textDocument": item}})
    for version, batch in enumerate(batches, start=2):
        params = {"textDocument": {"uri": URI, "version": version}, "contentChanges": batch}
        mirror.observe_client({"method": "textDocument/didChange", "params": params})
    return mirror.documents[URI].text


def _lsp_change(change: dict) -> types.TextDocumentContentChangeEvent:
    if "range" not in change:
        return types.TextDocumentContentChangeWholeDocument(text=change["text"])
    start, end = change["range"]["start"], change["range"]["end"]
    return types.TextDocumentContentChangePartial(
        range=types.Range(
            start=types.Position(line=start["line"], character=start["character"]),
            end=types.Position(line=end["line"], character=end["character"]),
        ),
        text=change["text"],
    )


def daemon_text(encoding: str, text: str, batches: list[list[dict]]) -> str:
    workspace = LspWorkspace(None, types.TextDocumentSyncKind.Incremental, [], encoding)
    workspace.put_text_document(
        types.TextDocumentItem(uri=URI, language_id="text", version=1, text=text)
    )
    for version, batch in enumerate(batches, start=2):
        for change in batch:  # how pygls' didChange handler feeds the workspace
            workspace.update_text_document(
                types.VersionedTextDocumentIdentifier(uri=URI, version=version),
                _lsp_change(change),
            )
    document = workspace.get_text_document(URI)
    assert document.lines == tuple(lsp_lines(document.source))
    return document.source


def pygls_text(encoding: str, text: str, batches: list[list[dict]]) -> str:
    document = TextDocument(URI, text, position_codec=PositionCodec(encoding))
    for batch in batches:
        for change in batch:
            document.apply_change(_lsp_change(change))
    return document.source


def reference_text(encoding: str, text: str, batches: list[list[dict]]) -> str:
    for batch in batches:
        for change in batch:
            text = reference_apply(text, change, encoding)
    return text


QUICK = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@QUICK
@given(sessions(valid=True, extra=False))
def test_mirror_equals_pygls_document(session):
    encoding, text, batches = session
    expected = pygls_text(encoding, text, batches)
    assert mirror_text(encoding, text, batches) == expected
    assert daemon_text(encoding, text, batches) == expected
    assert reference_text(encoding, text, batches) == expected


@QUICK
@given(sessions(valid=False, extra=True))
def test_mirror_equals_daemon_document_and_the_specification_for_any_position(session):
    encoding, text, batches = session
    expected = reference_text(encoding, text, batches)
    assert mirror_text(encoding, text, batches) == expected
    assert daemon_text(encoding, text, batches) == expected


@QUICK
@given(sessions(valid=True, extra=True))
def test_line_index_lines_and_offsets_follow_the_text(session):
    encoding, text, batches = session
    index = LineIndex(text)
    for batch in batches:
        for change in batch:
            index.apply_change(change, encoding)
            text = reference_apply(text, change, encoding)
            assert index.text == text
            assert index.lines == lsp_lines(text)
    line, character = index.end(encoding)
    assert index.offset(line, character, encoding) == len(text)


def test_a_carriage_return_then_an_inserted_line_feed_is_one_break():
    index = LineIndex("a\rb")
    index.replace((1, 0), (1, 0), "\n")
    assert index.text == "a\r\nb" and index.lines == ["a\r\n", "b"]
    index.replace((1, 0), (1, 1), "")
    assert index.text == "a\r\n" and index.lines == ["a\r\n"]
