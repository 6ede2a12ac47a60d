"""Pure parts of inline completions: clean-up, typed-ahead, options, debounce, exclusion,
and the emulator's deterministic continuation."""

from __future__ import annotations

import asyncio

import pytest

from greycloud.emulator.completion import continuation
from greycloud.fill_in_middle import FillInMiddle, parse, render, render_file
from greycloud_lsp.features.inline_completion.context import Cursor, cut
from greycloud_lsp.features.inline_completion.options import (
    completion_model,
    context_chars,
    language_enabled,
)
from greycloud_lsp.features.inline_completion.prompt import clean, trim_overlap
from greycloud_lsp.features.inline_completion.scheduler import DocumentTurns, Superseded
from greycloud_lsp.features.inline_completion.typed_ahead import Suggestion, reuse
from greycloud_lsp.features.workspace_cache.file_selection import excluded_reason
from greycloud_lsp.settings import CompletionSettings


def test_fences_and_markers_are_dropped_and_the_suffix_is_not_repeated():
    cursor = Cursor("x = compute_", "(1)\nprint(x)\n")
    assert clean("```python\ntotal(1)\n```", cursor) == "total"
    assert clean("total<|fim_suffix|>junk", cursor) == "total"
    assert clean("total\nmore lines", cursor) == "total"  # text follows on the line
    at_end = Cursor("def f():\n    ", "\n    return 1\n")
    assert clean("x = 1\n    return 1", at_end) == "x = 1"
    assert clean("   \n", at_end) == ""
    assert trim_overlap("foo)", ")") == "foo"
    assert trim_overlap("foo", "bar") == "foo"


def test_typed_ahead_reuse_follows_the_suggestion_only():
    last = Suggestion("x = ", "\n", "compute(1)", "3")
    assert reuse(last, "x = com", "\n") == "pute(1)"
    assert reuse(last, "x = cam", "\n") is None
    assert reuse(last, "x = com", "y\n") is None  # the text after the cursor changed
    assert reuse(last, "x = compute(1)", "\n") is None  # all typed: nothing left
    assert reuse(None, "x", "") is None


def test_options_resolve_languages_model_and_budget():
    on = CompletionSettings()
    assert language_enabled(on, "python") and language_enabled(on, None)
    only_python = CompletionSettings(languages={"*": False, "python": True})
    assert language_enabled(only_python, "python") and not language_enabled(only_python, "go")
    assert not language_enabled(CompletionSettings(enabled=False), "python")
    assert completion_model(on) == "gemini-2.5-flash-lite"
    assert completion_model(CompletionSettings(model="gemini-2.5-flash")) == "gemini-2.5-flash"
    assert context_chars(CompletionSettings(context_tokens=1000)) == (2400, 600, 4000)


def test_settings_reject_values_outside_their_rules():
    for field, bad in (("quota_share", 0), ("quota_share", 1.5), ("debounce_ms", -1)):
        with pytest.raises(ValueError, match="completion"):
            CompletionSettings(**{field: bad})


def test_the_budget_cuts_at_line_breaks():
    cursor = Cursor("one\ntwo\nthree", "four\nfive\nsix")
    assert cut(cursor, 9, 7) == ("two\nthree", "four\n")
    assert cut(cursor, 8, 4) == ("three", "four")
    assert cut(Cursor("x" * 50, ""), 10, 10) == ("x" * 10, "")
    assert cut(cursor, 100, 100) == (cursor.prefix, cursor.suffix)


def test_the_debounce_stretches_for_a_slow_typist():
    turns = DocumentTurns()
    for second in (0.0, 0.3, 0.6, 0.9):
        turns.edited(second)
    assert turns.quiet_needed(0.2) == pytest.approx(0.6)  # 3 x 0.2 at most
    fast = DocumentTurns()
    for second in (0.0, 0.05, 0.1, 0.15):
        fast.edited(second)
    assert fast.quiet_needed(0.2) == 0.2
    paused = DocumentTurns()
    for second in (0.0, 5.0, 10.0, 15.0):
        paused.edited(second)
    assert paused.quiet_needed(0.2) == 0.2  # pauses are not rhythm


async def test_a_newer_turn_cancels_the_running_call():
    turns = DocumentTurns()
    turn = turns.begin()
    started = asyncio.Event()

    async def slow() -> str:
        started.set()
        await asyncio.sleep(10)
        return "late"

    call = asyncio.ensure_future(turns.call(turn, slow()))
    await started.wait()
    assert turns.supersede() is True
    with pytest.raises(Superseded):
        await call
    assert await turns.debounce(turn, 0) is False


def test_excluded_reason_applies_the_cache_rules_to_one_path(tmp_path):
    (tmp_path / ".gitignore").write_text("build/\n*.log\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / ".gitignore").write_text("secret_*.py\n")
    assert excluded_reason(tmp_path / "src" / "main.py", tmp_path) is None
    assert excluded_reason(tmp_path / "build" / "gen.py", tmp_path) == "gitignored"
    assert excluded_reason(tmp_path / "debug.log", tmp_path) == "gitignored"
    assert excluded_reason(tmp_path / "src" / "secret_x.py", tmp_path) == "gitignored"
    assert excluded_reason(tmp_path / ".env", tmp_path) == "secret"
    assert excluded_reason(tmp_path / "keys" / "id_rsa", tmp_path) == "secret"
    assert excluded_reason(tmp_path / "a.py", tmp_path, exclude=["*.py"]) == "excluded"
    assert excluded_reason(tmp_path / "a.py", tmp_path, include=["*.md"]) == "not included"
    assert excluded_reason(tmp_path.parent / "elsewhere.py", tmp_path) == "outside workspace"


def test_the_emulator_continues_the_prefix_deterministically():
    fim = FillInMiddle("total = 1\nresult = tot", "\nprint(result)\n")
    first = continuation(fim)
    assert first == continuation(fim)  # deterministic
    assert first.startswith("al(")  # finishes `total`, then calls it
    assert "print(result)" not in first
    mid_line = FillInMiddle("x = compute_total + comp", " * 2\n")
    assert continuation(mid_line) == "ute_total"  # one line, the suffix not repeated
    assert continuation(mid_line, "[[fim-echo-suffix]]") == "ute_total * 2"
    assert continuation(mid_line, "[[fim-restate-word]]") == "compute_total"


def test_fill_in_middle_round_trip():
    prompt = render_file("a.py", "x = 1") + render("b.py", "pre", "post")
    assert parse(prompt) == FillInMiddle("pre", "post")
    assert parse("no markers") is None


async def test_exclusions_read_the_ignore_rules_off_the_event_loop(tmp_path, monkeypatch):
    """A completion asks on every pause: the ``.gitignore`` walk must not block the daemon."""
    import threading
    from pathlib import Path

    from lsprotocol import types
    from pygls.uris import from_fs_path

    from greycloud_lsp.features.inline_completion.context import Exclusions
    from greycloud_lsp.server import create_server

    (tmp_path / ".gitignore").write_text("build/\n")
    (tmp_path / "build").mkdir()
    server = create_server()
    params = types.InitializeParams(capabilities=types.ClientCapabilities())
    params.root_uri = from_fs_path(str(tmp_path))
    list(server.protocol.lsp_initialize(params))
    ignored, plain = (from_fs_path(str(tmp_path / p)) for p in ("build/out.py", "main.py"))
    for uri in (ignored, plain):
        server.workspace.put_text_document(types.TextDocumentItem(uri, "python", 1, "x = 1\n"))
    on_loop: list[str] = []
    loop_thread = threading.get_ident()
    real_read, real_is_file = Path.read_text, Path.is_file

    def read_text(self: Path, *args, **kwargs):
        if threading.get_ident() == loop_thread:
            on_loop.append(f"read {self}")
        return real_read(self, *args, **kwargs)

    def is_file(self: Path):
        if threading.get_ident() == loop_thread:
            on_loop.append(f"is_file {self}")
        return real_is_file(self)

    monkeypatch.setattr(Path, "read_text", read_text)
    monkeypatch.setattr(Path, "is_file", is_file)
    exclusions = Exclusions(server)
    assert await exclusions.reason(ignored, "x = 1\n") == "gitignored"
    assert await exclusions.reason(plain, "x = 1\n") is None
    assert await exclusions.reason(plain, 'key = "AIzaSyA1234567890abcdefghijklmnopqrstuv"\n') == (
        "secret (content)"
    )
    assert on_loop == []
