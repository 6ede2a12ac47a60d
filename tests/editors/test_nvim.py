"""The Neovim plugin in a real headless Neovim against `greycloud-lsp --emulator`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PLUGIN = REPO / "editors" / "nvim"


def find_nvim() -> str | None:
    cand = Path(sys.executable).with_name("nvim")
    if cand.exists():
        return str(cand)
    return shutil.which("nvim")


def nvim_version(nvim: str) -> tuple[int, int]:
    out = subprocess.run([nvim, "--version"], capture_output=True, text=True, timeout=30).stdout
    major, minor = out.split()[1].lstrip("v").split(".")[:2]
    return int(major), int(minor)


def nvim_test_command(
    nvim: str, init: str = "test_init.lua", script: str = "run_test.lua"
) -> list[str]:
    """Headless, clean nvim that loads the plugin and runs a Lua test script."""
    return [
        nvim,
        "--headless",
        "--clean",
        "-u",
        str(HERE / "nvim" / init),
        "-c",
        f"luafile {HERE / 'nvim' / script}",
    ]


def run_nvim(
    nvim: str,
    tmp_path: Path,
    workspace: Path,
    server_cmd: list[str],
    *,
    init: str = "test_init.lua",
    script: str = "run_test.lua",
    timeout: float = 150,
    **extra_env: str,
) -> tuple[subprocess.CompletedProcess[str], dict, str]:
    """Run a Lua test script in a clean headless Neovim; its process, JSON report and a
    diagnosis (exit code, output tails, failed checks) for assertion messages."""
    result_file = tmp_path / "result.json"
    env = dict(os.environ)
    env.update(
        GREYCLOUD_NVIM_PLUGIN=str(PLUGIN),
        GREYCLOUD_TEST_SERVER_CMD=json.dumps(server_cmd),
        GREYCLOUD_TEST_RESULT=str(result_file),
        GREYCLOUD_TEST_WORKSPACE=str(workspace),
        GREYCLOUD_TEST_LOG_FILE=str(tmp_path / "server.log"),
        GREYCLOUD_TEST_PYTHON=sys.executable,
        XDG_STATE_HOME=str(tmp_path / "state"),
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        **extra_env,
    )
    started = time.monotonic()
    proc = subprocess.run(
        nvim_test_command(nvim, init, script),
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    report = json.loads(result_file.read_text()) if result_file.exists() else {}
    diag = (
        f"exit={proc.returncode} after {time.monotonic() - started:.1f}s\n"
        f"stdout:{proc.stdout[-2000:]}\nstderr:{proc.stderr[-4000:]}\n"
        f"failures:{json.dumps(report.get('failures'), indent=1)[:6000]}"
    )
    return proc, report, diag


def keep_artifacts(artifacts_dir: Path, tmp_path: Path, name: str, report: dict) -> None:
    """The report and the server's log, for a person looking at a failed run."""
    (artifacts_dir / f"{name}-report.json").write_text(json.dumps(report, indent=2))
    if (tmp_path / "server.log").exists():
        shutil.copy(tmp_path / "server.log", artifacts_dir / f"{name}-server.log")


@pytest.mark.timeout(180)  # above nvim's own 150 s budget below
def test_nvim_plugin_end_to_end(
    tmp_path, editor_workspace, greycloud_server_cmd, nvim, artifacts_dir
):
    proc, report, diag = run_nvim(nvim, tmp_path, editor_workspace, greycloud_server_cmd)
    keep_artifacts(artifacts_dir, tmp_path, "nvim", report)
    assert report, f"no report written\n{diag}"
    assert not report["failures"], diag
    assert proc.returncode == 0, diag

    checks = {c["name"] for c in report["checks"] if c["ok"]}
    for name in (
        "server process runs with --emulator",
        "streamed text equals result text",
        "token count updated after edit (exact)",
        "cache workspace succeeded",
        "generation was cancelled",
        "generation used the plugin's workDoneToken",
    ):
        assert name in checks, diag
    gen = report["generate"]
    assert gen["buffer"] == gen["result_text"] and gen["result_text"]
    assert "--emulator" in report["server_cmd"]
    assert report["cache"]["tokens"] > 0


def test_nvim_failure_exit_code(tmp_path, editor_workspace, nvim):
    """A failing check must make nvim exit non-zero (the harness itself is tested)."""
    # A server command that does not exist: the attach check must fail fast.
    proc, report, diag = run_nvim(
        nvim,
        tmp_path,
        editor_workspace,
        [str(tmp_path / "no-such-server")],
        timeout=60,
        GREYCLOUD_TEST_TIMEOUT_MS="2000",
    )
    assert proc.returncode != 0, diag
    assert any("server attached" in f for f in report["failures"])


@pytest.mark.timeout(180)
def test_nvim_minimal_setup_ask_workspace_and_code_actions(
    tmp_path, editor_workspace, greycloud_server_cmd, nvim, artifacts_dir
):
    """setup({emulator = true}) with no settings starts silently; :GreyCloudAsk creates then
    reuses a cache; cache_statusline() goes fresh -> stale; code actions apply as one edit."""
    proc, report, diag = run_nvim(
        nvim,
        tmp_path,
        editor_workspace,
        greycloud_server_cmd,
        init="minimal_init.lua",
        script="run_ask.lua",
    )
    keep_artifacts(artifacts_dir, tmp_path, "nvim-ask", report)
    assert report and not report["failures"] and proc.returncode == 0, diag
    assert "expected an object" not in report["messages"]
    assert report["emulator"]["creations"] == 1 and report["emulator"]["cached_questions"] == 2
    assert report["cache_statusline_fresh"].startswith("cache fresh ")
    assert report["cache_statusline_stale"].startswith("cache stale")
    assert "Gemini: Improve / rewrite" in report["code_action_titles"]


@pytest.mark.timeout(180)
def test_nvim_cache_statusline_resets_when_the_server_goes(
    tmp_path, editor_workspace, greycloud_server_cmd, nvim, artifacts_dir
):
    """A dropped connection (the server process ends) leaves no "cache fresh" behind."""
    proc, report, diag = run_nvim(
        nvim, tmp_path, editor_workspace, greycloud_server_cmd, script="run_cache_reset.lua"
    )
    keep_artifacts(artifacts_dir, tmp_path, "nvim-cache-reset", report)
    assert report and not report["failures"] and proc.returncode == 0, diag
    assert report["before"].startswith("cache fresh") and report["after"] == ""


@pytest.mark.timeout(180)
def test_nvim_inline_completion_typing_in_insert_mode(
    tmp_path, editor_workspace, greycloud_server_cmd, nvim, artifacts_dir
):
    """Ghost text from textDocument/inlineCompletion as a user types: shown, kept while
    typing along (no new upstream request), accepted by word and whole with the default
    keys (the server counts both), dismissed, a plain <Tab> without one, toggled off."""
    (editor_workspace / "completion_demo.py").write_text(
        "def add(a, b):\n    return a + b\n\n\ndef subtract(a, b):\n    return a - b\n"
    )
    proc, report, diag = run_nvim(
        nvim, tmp_path, editor_workspace, greycloud_server_cmd, script="run_completion.lua"
    )
    keep_artifacts(artifacts_dir, tmp_path, "nvim-completion", report)
    assert report and not report["failures"] and proc.returncode == 0, diag
    assert report["ghost"].strip() and "```" not in report["ghost"], diag
    written = report["buffer"]
    assert "def multiply(a, b):" in written and "total = multiply(" in written, diag
    assert report["stats_after_accept"]["accepted"] >= 2, diag
