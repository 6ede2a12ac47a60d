"""Two headless Neovims with the unchanged plugin attach to ONE greycloud-lsp daemon."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import pytest

from tests.daemon.daemon_helpers import status, wait_until
from tests.editors.test_nvim import PLUGIN
from tests.helpers import daemon_processes

HERE = Path(__file__).resolve().parent


@pytest.mark.timeout(240)
async def test_two_nvims_share_one_daemon(tmp_path, editor_workspace, greycloud_server_cmd, nvim):
    release = tmp_path / "release"
    editors = []
    for n in range(2):
        env = dict(os.environ)
        env.update(
            GREYCLOUD_NVIM_PLUGIN=str(PLUGIN),
            GREYCLOUD_TEST_SERVER_CMD=json.dumps(greycloud_server_cmd),
            GREYCLOUD_TEST_RESULT=str(tmp_path / f"result{n}.json"),
            GREYCLOUD_TEST_RELEASE=str(release),
            GREYCLOUD_TEST_WORKSPACE=str(editor_workspace),
            GREYCLOUD_TEST_LOG_FILE=str(tmp_path / f"server{n}.log"),
            XDG_STATE_HOME=str(tmp_path / f"state{n}"),
            XDG_DATA_HOME=str(tmp_path / f"data{n}"),
            XDG_CACHE_HOME=str(tmp_path / f"cache{n}"),
            PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        )
        command = [
            nvim, "--headless", "--clean",
            "-u", str(HERE / "nvim" / "test_init.lua"),
            "-c", f"luafile {HERE / 'nvim_daemon' / 'attach.lua'}",
        ]  # fmt: skip
        editors.append(
            await asyncio.create_subprocess_exec(
                *command,
                cwd=editor_workspace,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
        )
    try:
        reports = [tmp_path / f"result{n}.json" for n in range(2)]

        async def both_reported() -> bool:
            return all(r.exists() for r in reports) or any(
                e.returncode is not None for e in editors
            )

        await wait_until(both_reported, timeout=150, interval=0.2)
        results = [json.loads(r.read_text()) if r.exists() else {} for r in reports]
        assert all(r.get("generate", {}).get("text") for r in results), results
        assert not any(r.get("failures") for r in results), results
        assert all(r["server_cmd"][-1] != "--standalone" for r in results)

        info = await status("emulator")
        assert len(daemon_processes(tmp_path / "run")) == 1
        assert sorted(s["editorPid"] for s in info["sessions"]) == sorted(e.pid for e in editors)
        assert all(s["documents"] == 1 for s in info["sessions"])

        release.write_text("")
        codes = await asyncio.wait_for(asyncio.gather(*(e.wait() for e in editors)), 30)
        assert codes == [0, 0]
        left = time.monotonic()

        async def no_sessions() -> bool:
            current = await status("emulator")
            return current is None or not current["sessions"]

        await wait_until(no_sessions, timeout=10, interval=0.05)
        assert time.monotonic() - left < 2.0
    finally:
        release.write_text("")
        for editor in editors:
            if editor.returncode is None:
                editor.kill()
            await editor.wait()
