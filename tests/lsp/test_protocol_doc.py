"""docs/protocol.md keeps up with the server.

The names are taken from the server itself, never from a list written here:
the commands it advertises in ``executeCommandProvider`` (asked over LSP), the
``greycloud/...`` method names in ``greycloud_lsp``'s code, and the settings
keys of ``greycloud_lsp.settings.Settings``. Adding one without documenting it
fails here.
"""

from __future__ import annotations

import ast
import re
import typing
from collections.abc import Iterator
from pathlib import Path

import attrs

import greycloud_lsp
from greycloud_lsp.common.payload_conversion import camel
from greycloud_lsp.settings import Settings
from tests.lsp import lsp_helpers

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "protocol.md"
PACKAGE = Path(greycloud_lsp.__file__).resolve().parent
METHOD = re.compile(r"^(?:\$/)?greycloud/[A-Za-z]+$")
OLD_CONTRACT = "shared" + "/design"  # split so this file does not match itself
SKIPPED_DIRS = {".git", ".venv", "node_modules", "out", "__pycache__", ".pytest_cache"}


def doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


def headings(text: str) -> list[str]:
    return [line.lstrip("#").strip() for line in text.splitlines() if line.startswith("#")]


def section(text: str, title: str) -> str:
    """The text of the ``## <title>`` section, up to the next ``## ``."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    assert match, f"docs/protocol.md has no section '## {title}'"
    return match.group(1)


def setting_keys(cls: type = Settings, prefix: str = "") -> Iterator[str]:
    """Every settings key, dotted and camelCase: ``cache.ttlSeconds``, ``codeActions[].title``."""
    for field in attrs.fields(cls):
        key = f"{prefix}{camel(field.name)}"
        yield key
        kind = field.type
        if attrs.has(kind):
            yield from setting_keys(kind, f"{key}.")
        elif typing.get_origin(kind) in (tuple, list):
            items = [a for a in typing.get_args(kind) if a is not Ellipsis]
            if len(items) == 1 and attrs.has(items[0]):
                yield from setting_keys(items[0], f"{key}[].")


def method_names() -> set[str]:
    """``greycloud/...`` (and ``$/greycloud/...``) string constants in the server's code."""
    names = set()
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if METHOD.match(node.value):
                    names.add(node.value)
    return names


def github_anchor(heading: str) -> str:
    """The id GitHub gives a heading (lowercase, punctuation dropped, spaces to '-')."""
    slug = re.sub(r"[^\w\- ]", "", heading.lower())
    return slug.replace(" ", "-")


async def advertised_commands() -> list[str]:
    """``executeCommandProvider.commands`` of a freshly started server."""
    provider = (await lsp_helpers.server_capabilities()).execute_command_provider
    assert provider is not None, "the server advertises no executeCommandProvider"
    return list(provider.commands)


async def test_every_advertised_command_has_a_section() -> None:
    commands = await advertised_commands()
    assert "greycloud.generate" in commands  # the extraction itself works
    documented = headings(doc_text())
    missing = [c for c in commands if not any(f"`{c}`" in h for h in documented)]
    assert not missing, f"commands without a section in docs/protocol.md: {missing}"


def test_every_custom_method_has_a_section() -> None:
    methods = method_names()
    assert "greycloud/tokenCount" in methods  # the extraction itself works
    documented = headings(doc_text())
    missing = sorted(m for m in methods if not any(f"`{m}`" in h for h in documented))
    assert not missing, f"methods without a section in docs/protocol.md: {missing}"


def test_every_settings_key_has_a_row() -> None:
    keys = list(setting_keys())
    assert "tokenCount.debounceMs" in keys and "codeActions[].prompt" in keys
    table = section(doc_text(), "4. Settings")
    missing = [k for k in keys if f"| `{k}` |" not in table]
    assert not missing, f"settings keys without a row in docs/protocol.md section 4: {missing}"


def test_table_of_contents_links_resolve() -> None:
    text = doc_text()
    anchors = {github_anchor(h) for h in headings(text)}
    links = re.findall(r"\]\(#([^)]+)\)", text)
    assert len(links) > 20
    broken = [link for link in links if link not in anchors]
    assert not broken, f"links to no heading in docs/protocol.md: {broken}"


def test_readmes_link_the_reference_and_nothing_cites_the_old_contract() -> None:
    for readme, link in (
        ("README.md", "docs/protocol.md"),
        ("greycloud_lsp/README.md", "../docs/protocol.md"),
        ("editors/README.md", "../docs/protocol.md"),
    ):
        assert f"]({link}" in (ROOT / readme).read_text(encoding="utf-8"), readme
    citing = []
    for path in ROOT.rglob("*"):
        if SKIPPED_DIRS.intersection(path.relative_to(ROOT).parts) or not path.is_file():
            continue
        if path.suffix not in {".py", ".md", ".ts", ".lua", ".json", ".toml", ".txt"}:
            continue
        if OLD_CONTRACT in path.read_text(encoding="utf-8", errors="replace"):
            citing.append(str(path.relative_to(ROOT)))
    assert not citing, f"files citing the old out-of-repo contract: {citing}"
