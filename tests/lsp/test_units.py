"""Fast unit tests: file selection, settings layering, payload validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from pygls.exceptions import JsonRpcInvalidParams

from greycloud_lsp.common.payload_conversion import parse
from greycloud_lsp.common.payloads import GenerateArgs
from greycloud_lsp.features.workspace_cache.file_selection import collect
from greycloud_lsp.settings import Settings, resolve


def write(root: Path, rel: str, content: str | bytes = "text\n") -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)


def test_collect_honours_nested_gitignore_include_exclude_and_limits(tmp_path):
    tmp_path = tmp_path / "ws"  # tmp_path itself holds the fake gcloud and $HOME
    write(tmp_path, ".gitignore", "*.tmp\n")
    write(tmp_path, "pkg/.gitignore", "generated/\n!keep.tmp\n")
    write(tmp_path, "pkg/mod.py")
    write(tmp_path, "pkg/generated/x.py")
    write(tmp_path, "pkg/keep.tmp")
    write(tmp_path, "pkg/drop.tmp")
    write(tmp_path, "docs/big.md", "x" * 5000)
    write(tmp_path, "docs/a.md")
    write(tmp_path, "docs/b.md")
    write(tmp_path, "notes.txt")
    write(tmp_path, "server.pem", "-----BEGIN PRIVATE KEY-----")
    write(tmp_path, "id_rsa.pub")
    write(tmp_path, "data.bin", b"\x00\x01\x02")
    write(tmp_path, "latin1.txt", "caf\xe9".encode("latin-1"))
    result = collect(
        tmp_path,
        include=["*.py", "*.md", "*.tmp"],
        exclude=["docs/b.md"],
        max_file_bytes=1000,
        max_total_bytes=100_000,
    )
    files = sorted(rel for rel, _p, _t in result.files)
    assert files == ["docs/a.md", "pkg/keep.tmp", "pkg/mod.py"]
    skipped = dict(result.skipped)
    assert skipped["pkg/generated/"] == "gitignored"
    assert skipped["pkg/drop.tmp"] == "gitignored"
    assert skipped["docs/b.md"] == "excluded"
    assert skipped["docs/big.md"].startswith("too large")
    assert skipped["notes.txt"] == "not included"
    assert skipped["server.pem"] == "secret" and skipped["id_rsa.pub"] == "secret"


def test_collect_total_limit_and_binary(tmp_path):
    tmp_path = tmp_path / "ws"
    for i in range(5):
        write(tmp_path, f"f{i}.txt", "y" * 400)
    write(tmp_path, "blob.dat", b"abc\x00def")
    write(tmp_path, "latin1.txt", "caf\xe9".encode("latin-1"))
    result = collect(tmp_path, max_file_bytes=1000, max_total_bytes=1000)
    assert len(result.files) == 2 and result.total_bytes == 800
    reasons = dict(result.skipped)
    assert reasons["blob.dat"] == "binary" and reasons["latin1.txt"] == "binary"
    assert sum(r.startswith("total size limit") for r in reasons.values()) == 3


def test_collect_sniffs_secret_contents(tmp_path):
    root = tmp_path / "ws"
    write(root, "my-project-1a2b3c.json", '{"type": "service_account", "private_key": "k"}')
    write(root, "notes.txt", "keep this\n-----BEGIN RSA PRIVATE KEY-----\nabc\n")
    write(root, "fine.txt", "BEGIN PUBLIC KEY is fine")
    result = collect(root, max_file_bytes=10_000, max_total_bytes=100_000)
    assert [rel for rel, _p, _t in result.files] == ["fine.txt"]
    assert dict(result.skipped) == {
        "my-project-1a2b3c.json": "secret (content)",
        "notes.txt": "secret (content)",
    }


def test_settings_layers_and_problems():
    settings, problems = resolve(
        [{"rpm": 10, "cache": {"ttlSeconds": 60}}, {"rpm": 20, "tokenCount": {"mode": "x"}}],
        None,
    )
    assert settings.rpm == 20 and settings.cache.ttl_seconds == 60
    assert settings.token_count.mode == "auto"
    assert [p.key for p in problems] == ["tokenCount.mode"]
    again, problems = resolve([{"rpm": "many"}], settings)
    assert again.rpm == 20 and problems[0].message.startswith("rpm:")
    assert resolve(["nonsense"], Settings())[1][0].key == "greycloud"


@pytest.mark.parametrize(
    ("argument", "field"),
    [
        (
            {
                "prompt": "x",
                "range": {"start": {"line": 2, "character": 0}, "end": {"line": 1, "character": 0}},
                "textDocument": {"uri": "file:///a"},
            },
            "range",
        ),
        ({"prompt": "x", "model": ""}, "model"),
        ({"prompt": "x", "textDocument": {}}, "textDocument.uri"),
        ([{"prompt": "a"}, {"prompt": "b"}], "argument"),
    ],
)
def test_generate_arguments_name_the_field(argument, field):
    arguments = argument if isinstance(argument, list) else [argument]
    with pytest.raises(JsonRpcInvalidParams) as info:
        parse(GenerateArgs, arguments, "greycloud.generate")
    assert field in str(info.value)


def test_code_action_placeholders_and_fences():
    from greycloud_lsp.features.code_actions.running import fill, strip_fences

    filled = fill(
        "Fix {file} ({language}):\n{diagnostics}\n{selection}",
        selection="x = {1}",
        language="python",
        file="a.py",
        diagnostics="- line 1: bad",
    )
    assert filled == "Fix a.py (python):\n- line 1: bad\nx = {1}"
    # no {selection} placeholder: the selection follows the prompt
    assert fill("Explain", selection="code", language="", file="", diagnostics="") == (
        "Explain\n\ncode"
    )
    assert strip_fences("```python\nx = 1\n```\n") == "x = 1"
    assert strip_fences("text ```x``` more") == "text ```x``` more"


def test_question_saving_uses_the_price_table():
    from greycloud.pricing import price_for
    from greycloud_lsp.common.payloads import Usage
    from greycloud_lsp.features.workspace_ask.ask import question_saving

    price = price_for("gemini-2.5-flash")
    saving = question_saving("gemini-2.5-flash", Usage(1_000_000, 10, 900_000, 1_000_010))
    assert saving.input_cost_without_cache == pytest.approx(price.input_per_million)
    assert saving.input_cost_with_cache == pytest.approx(
        0.1 * price.input_per_million + 0.9 * price.cached_input_per_million
    )
    assert saving.saving_percent == pytest.approx(90 * price.cached_discount)
    nothing = question_saving("gemini-2.5-flash", Usage(100, 1, 0, 101))
    assert nothing.saving == 0 and nothing.saving_percent == 0


def test_code_actions_setting_is_checked():
    from greycloud_lsp.settings import resolve

    settings, problems = resolve(
        [{"codeActions": [{"title": "T", "prompt": "P {selection}", "insert": "after"}]}], None
    )
    assert problems == [] and settings.code_actions[0].insert == "after"
    _, problems = resolve([{"codeActions": [{"title": "T", "prompt": "P", "insert": "x"}]}], None)
    assert [p.message for p in problems] == [
        "codeActions.insert: must be one of none, replace, after"
    ]


def test_a_range_is_read_on_the_lines_lsp_counts():
    """A form feed or U+2028 is not a line break for LSP (nor for the edit applied later)."""
    from lsprotocol import types as lsp

    from greycloud_lsp.common.document_edits import text_in_range

    def on_line(line: int) -> lsp.Range:
        return lsp.Range(start=lsp.Position(line, 0), end=lsp.Position(line, 1))

    text = "a\x0cb\nc\u2028d\r\ne"
    assert [text_in_range(text, on_line(n)) for n in range(3)] == ["a", "c", "e"]
