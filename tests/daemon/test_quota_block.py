"""``greycloud-lsp daemon status`` shows each quota's window, in-flight and waiting calls.

The block is the library's (`greycloud.quota_status`), the same as
``greycloud quota status`` prints; here for the daemon's own limiters.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys

from greycloud.emulator.text import prompt_info
from tests.daemon.daemon_helpers import status, wait_until
from tests.helpers import NO_HANG
from tests.lsp.lsp_helpers import execute, language_servers

PROMPTS = ["first answer [[words=400]]", "second answer please [[words=400]]"]


def _status_text() -> str:
    shown = subprocess.run(
        [sys.executable, "-m", "greycloud_lsp", "daemon", "status"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    return shown.stdout


async def test_daemon_status_shows_the_quota_block(adc_env, tmp_path):
    adc_env.state.configure(stream_chunk_delay=0.02)  # ~50 chunks: about a second each
    async with language_servers(tmp_path, mode="daemon") as start:
        window = await start(settings={"rpm": 30, "tpm": 5000, "maxConcurrency": 1})
        running = [
            asyncio.ensure_future(execute(window, "greycloud.generate", {"prompt": p}))
            for p in PROMPTS
        ]

        async def one_runs_one_waits():
            answer = await status()
            quotas = answer["quotas"] if answer else []
            return quotas and quotas[0]["inFlight"] == 1 and quotas[0]["waiting"] == 1 and quotas

        (quota,) = await wait_until(one_runs_one_waits, timeout=NO_HANG)
        assert quota["waitingTokens"] > 0 and quota["requests"] == 1
        assert (quota["rpm"], quota["tpm"], quota["maxConcurrency"]) == (30, 5000, 1)
        assert (quota["source"], quota["tpmCounts"], quota["periodSeconds"]) == (
            "local",
            "input",
            60.0,
        )
        text = await asyncio.to_thread(_status_text)
        assert "quotas in use (local, window 60 s, tokens = input tokens; used/limit):" in text
        (row,) = [line for line in text.splitlines() if "gemini-3-flash-preview" in line]
        assert row.split()[1:5] == ["1/30", f"{quota['tokens']:,}/5,000", "1/1", "1"]
        assert row.endswith(f"({quota['waitingTokens']:,} tok)")

        await asyncio.wait_for(asyncio.gather(*running), NO_HANG)
        (quota,) = (await status())["quotas"]
        bodies = [r.body for r in adc_env.state.requests_for("streamGenerateContent")]
        # settled with the input tokens of both prompts, not with their 400-word answers
        assert quota["tokens"] == sum(prompt_info(body).tokens for body in bodies)
        assert (quota["requests"], quota["inFlight"], quota["waiting"]) == (2, 0, 0)
        for task in running:
            with contextlib.suppress(Exception):
                task.cancel()
