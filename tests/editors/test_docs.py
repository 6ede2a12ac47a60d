"""The editor snippets in editors/README.md are at least syntactically valid."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "editors" / "README.md"


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(), flags=re.S)


def test_helix_languages_toml():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    (snippet,) = blocks("toml")
    cfg = tomllib.loads(snippet)
    server = cfg["language-server"]["greycloud"]
    assert server["command"] == "greycloud-lsp" and "--emulator" in server["args"]
    assert isinstance(server["config"], dict)
    from greycloud_lsp.settings import resolve

    settings, problems = resolve([server["config"]], None)
    assert problems == [] and settings.code_actions, problems
    assert any("greycloud" in lang["language-servers"] for lang in cfg["language"])


def test_vscode_settings_json():
    (snippet,) = blocks("json")
    settings = json.loads(snippet)
    props = json.loads((README.parent / "vscode" / "package.json").read_text())["contributes"][
        "configuration"
    ]["properties"]
    assert set(settings) <= set(props), set(settings) - set(props)


def elisp_forms_balanced(src: str) -> int:
    """Count top-level forms; fail on unbalanced parens (strings, chars and comments aware)."""
    depth = forms = 0
    i = 0
    while i < len(src):
        c = src[i]
        if c == ";":
            i = src.find("\n", i)
            if i < 0:
                break
        elif c == '"':
            i += 1
            while src[i] != '"':
                i += 2 if src[i] == "\\" else 1
        elif c == "?" and i + 1 < len(src):
            i += 2 if src[i + 1] == "\\" else 1
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            assert depth >= 0, f"unbalanced ')' at {i}"
            if depth == 0:
                forms += 1
        i += 1
    assert depth == 0, "unbalanced '('"
    return forms


def test_emacs_eglot_snippet():
    (snippet,) = blocks("elisp")
    assert elisp_forms_balanced(snippet) == 6
    emacs = shutil.which("emacs")
    if emacs:  # read every form when Emacs is there
        subprocess.run(
            [
                emacs,
                "--batch",
                "--eval",
                f"(with-temp-buffer (insert {json.dumps(snippet)}) (goto-char (point-min))"
                " (condition-case nil (while t (read (current-buffer))) (end-of-file nil)))",
            ],
            check=True,
            timeout=60,
        )


def test_nvim_lazy_spec_is_valid_lua(tmp_path):
    nvim = Path(sys.executable).with_name("nvim")
    nvim = str(nvim) if nvim.exists() else shutil.which("nvim")
    if not nvim:
        pytest.skip("nvim not found")
    (snippet,) = blocks("lua")
    src = tmp_path / "spec.lua"
    src.write_text("return " + snippet)
    proc = subprocess.run(
        [nvim, "--headless", "--clean", "-l", "/dev/stdin"],
        input=f"local f = assert(loadfile({json.dumps(str(src))})); "
        "local spec = f(); assert(type(spec.config) == 'function' and spec.dir)",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
