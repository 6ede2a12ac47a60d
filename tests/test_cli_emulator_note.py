"""``greycloud --emulator generate``: a newcomer is told the answer is not from Gemini."""

from __future__ import annotations

from greycloud.cli import EMULATOR_NOTE, main


def test_emulator_answer_says_where_it_came_from(capsys, monkeypatch):
    monkeypatch.delenv("GREYCLOUD_ENDPOINT", raising=False)
    code = main(["--emulator", "generate", "What is a context cache?"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.out.strip()  # the emulator's deterministic text is unchanged on stdout
    assert "local emulator" not in captured.out
    assert EMULATOR_NOTE in captured.err
    assert "gcloud auth application-default login" in captured.err
    assert "without --emulator" in captured.err


def test_no_note_when_generation_fails(capsys):
    code = main(["--emulator", "generate", "   "])
    captured = capsys.readouterr()
    assert code != 0
    assert "local emulator" not in captured.err
