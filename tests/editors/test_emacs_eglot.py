"""The README's eglot snippet in a real Emacs (Debian's Emacs 28 + elpa-eglot 1.9).

``emacs -Q --batch`` loads the elisp block of editors/README.md's Emacs section (read
from the README, so the docs cannot drift), connects eglot to ``greycloud-lsp
--emulator``, waits for the token count in the mode line, lists the code actions of a
selection, runs *Gemini: Add documentation* the way eglot does (its edit lands in the
buffer), runs *Gemini: Explain* (its answer in the echo area), then the snippet's
``greycloud-generate``. tests/editors/emacs/eglot_driver.el
does the steps and writes a JSON report.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.editors.conftest import EDITORS

HERE = Path(__file__).resolve().parent
DRIVER = HERE / "emacs" / "eglot_driver.el"
DEBIAN_ELPA = "/usr/share/emacs/site-lisp/elpa"
SOURCE = "def add(a, b):\n    return a - b\n\nprint(add(1, 2))\n"
BUDGET = 240  # seconds for the whole Emacs run (a busy machine; it takes ~15 s idle)


def readme_snippet() -> str:
    """The first elisp block of the Emacs section of editors/README.md."""
    readme = (EDITORS / "README.md").read_text()
    section = readme[readme.index("## Emacs") :]
    match = re.search(r"```elisp\n(.*?)```", section, flags=re.S)
    assert match, "editors/README.md: no ```elisp block in the Emacs section"
    return match.group(1)


@pytest.fixture
def emacs(require_tool) -> str:
    found = shutil.which("emacs")
    if found is None:
        require_tool("emacs not found (apt-get install emacs-nox elpa-eglot; .ci/editors.sh)")
    return found


def _run(command: list[str], env: dict[str, str], cwd: Path, timeout: float) -> tuple[int, str]:
    """Run Emacs; every process it started is stopped by PID afterwards."""
    seen: set[int] = set()
    proc = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                seen.update(c.pid for c in psutil.Process(proc.pid).children(recursive=True))
            except psutil.NoSuchProcess:
                pass
            time.sleep(0.2)
        if proc.poll() is None:
            proc.kill()
        output = proc.communicate(timeout=30)[0]
    finally:
        for pid in seen:
            try:
                child = psutil.Process(pid)
                child.kill()
                child.wait(5)
            except (psutil.NoSuchProcess, psutil.TimeoutExpired):
                pass
    return proc.returncode, output


@pytest.mark.timeout(BUDGET + 60)
def test_readme_eglot_snippet_in_emacs(
    tmp_path, editor_workspace, greycloud_server_cmd, emacs, artifacts_dir
):
    snippet = tmp_path / "greycloud-eglot.el"
    snippet.write_text(readme_snippet())
    source = editor_workspace / "calc.py"
    source.write_text(SOURCE)
    result = tmp_path / "emacs-report.json"
    env = {
        **os.environ,
        "GREYCLOUD_TEST_SNIPPET": str(snippet),
        "GREYCLOUD_TEST_SERVER_CMD": json.dumps(greycloud_server_cmd),
        "GREYCLOUD_TEST_FILE": str(source),
        "GREYCLOUD_TEST_RESULT": str(result),
        "GREYCLOUD_TEST_ELPA": DEBIAN_ELPA,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
    }
    code, output = _run([emacs, "-Q", "--batch", "-l", str(DRIVER)], env, editor_workspace, BUDGET)
    report = json.loads(result.read_text()) if result.exists() else {}
    (artifacts_dir / "emacs-report.json").write_text(json.dumps(report, indent=2))
    diag = f"exit={code}\noutput:{output[-4000:]}\nreport:{json.dumps(report, indent=1)[:6000]}"
    assert report.get("ok") is True, diag

    assert report["server_args"] == ["--emulator"], diag  # what the README starts
    assert re.fullmatch(r"\d+ tok", report["tokens"]), diag  # exact: no "~"
    # the mode line shows the buffer's greycloud-tokens (batch mode renders no mode line)
    assert report["mode_line_entry"].startswith("(greycloud-tokens"), diag
    assert report["misc_info_in_mode_line"] is True, diag
    assert report["actions"][:3] == [
        "Gemini: Explain",
        "Gemini: Improve / rewrite",
        "Gemini: Add documentation",
    ], diag
    assert "Gemini: Add type hints" in report["actions"], diag  # the snippet's template
    # The command answered at once (eglot waits 10 s at most); the edit came afterwards.
    answer = report["answer"]
    assert answer["started"] is True and answer["id"] == "document", diag
    assert report["answer_seconds"] < 10 and report["edit_seconds"] >= report["answer_seconds"]
    # eglot asked before applying the server's edit; the edit replaced the selection only
    assert len(report["confirmations"]) == 2 and "calc.py" in report["confirmations"][0], diag
    after = report["after_action"]
    assert after != SOURCE and "return a - b" not in after, diag
    assert after.endswith("\nprint(add(1, 2))\n") and report["still_there"] is True, diag
    # a prose action answers in the echo area and leaves the buffer alone
    assert report["explain_answer"]["started"] is True, diag
    assert report["explained"] and report["explain_left_buffer_alone"] is True, diag
    assert report["generated"].strip(), diag
