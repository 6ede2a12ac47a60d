"""Settings and the effective config are resolved once per change, never on the event loop.

The project comes from a slow ``gcloud`` (no ``PROJECT_ID``), as after
``gcloud init``: requests must cost what they cost with ``PROJECT_ID`` set, and
the server's event loop must keep answering meanwhile.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from greycloud.config import GreyCloudConfig
from greycloud_lsp.server import create_server
from tests.helpers import loop_lags
from tests.lsp.lsp_helpers import execute, open_document

PROJECT_LOOKUP = ["config", "get-value", "project"]
GCLOUD_DELAY = 1.5
# A stalled loop shows as a wait of about GCLOUD_DELAY; a busy machine's
# scheduling noise stays far below this.
STALL = 1.0


def lookups(fake_gcloud) -> int:
    return sum(1 for argv in fake_gcloud.calls() if argv[:3] == PROJECT_LOOKUP)


async def timed_pairs(client: Any, count: int) -> list[float]:
    """Durations of ``count`` generate + countTokens pairs."""
    durations = []
    for i in range(count):
        started = time.perf_counter()
        await execute(client, "greycloud.generate", {"prompt": f"hello {i} [[words=5]]"})
        await execute(client, "greycloud.countTokens", {"text": f"count me {i}"})
        durations.append(time.perf_counter() - started)
    return durations


async def probe_waits(client: Any, uri: str, stop: asyncio.Event) -> list[float]:
    """How long a cheap request waits, sent every 50 ms until ``stop``."""
    waits = []
    while not stop.is_set():
        sent = time.perf_counter()
        await client.protocol.send_request_async(
            "greycloud/tokenCount", {"textDocument": {"uri": uri}}
        )
        waits.append(time.perf_counter() - sent)
        await asyncio.sleep(0.05)
    return waits


async def measure(client: Any, tmp_path, name: str) -> tuple[list[float], list[float]]:
    """(pair durations after the first, cheap-request waits during all pairs)."""
    uri = (tmp_path / f"{name}.txt").as_uri()
    open_document(client, uri, "probe")
    stop = asyncio.Event()
    prober = asyncio.ensure_future(probe_waits(client, uri, stop))
    try:
        pairs = await timed_pairs(client, 6)
    finally:
        stop.set()
    return pairs[1:], await prober


async def test_project_from_slow_gcloud_costs_no_time_per_request(
    start_session, adc_env, fake_gcloud, monkeypatch, tmp_path
):
    with_project = await start_session(settings={"rpm": 100000})
    fast, _ = await measure(with_project, tmp_path, "fast")
    assert lookups(fake_gcloud) == 0

    monkeypatch.delenv("PROJECT_ID")
    fake_gcloud.set_project("emulator-project")
    fake_gcloud.hang(GCLOUD_DELAY, only=PROJECT_LOOKUP)
    from_gcloud = await start_session(settings={"rpm": 100000})
    slow, waits = await measure(from_gcloud, tmp_path, "slow")

    # Each request paid 1.5 s (countTokens 3 s) before; the absolute slack
    # keeps a busy machine from failing this, not a per-request gcloud call.
    assert statistics.median(slow) <= 1.5 * statistics.median(fast) + 0.25, (slow, fast)
    assert max(waits) < STALL, f"the event loop stalled: a cheap request waited {max(waits):.2f}s"
    assert lookups(fake_gcloud) == 1


async def test_settings_resolution_runs_gcloud_off_the_loop_and_once(
    adc_env, fake_gcloud, monkeypatch
):
    monkeypatch.delenv("PROJECT_ID")
    fake_gcloud.set_project("emulator-project")
    fake_gcloud.hang(GCLOUD_DELAY, only=PROJECT_LOOKUP)
    built = 0
    original = GreyCloudConfig.__post_init__

    def counting(self: GreyCloudConfig) -> None:
        nonlocal built
        built += 1
        original(self)

    monkeypatch.setattr(GreyCloudConfig, "__post_init__", counting)
    server = create_server()
    async with loop_lags() as lags:
        await server.reload_settings()
        configs_after_reload = built
        for _ in range(200):
            assert server.model == "gemini-3-flash-preview"
            client = server.get_client()
    assert max(lags) < STALL / 2, f"loop stalled {max(lags):.2f}s while gcloud ran"
    assert client.config.project_id == "emulator-project"
    assert lookups(fake_gcloud) == 1
    assert built == configs_after_reload, "model/get_client built a GreyCloudConfig per call"
    await server.cleanup()


async def test_gcloud_is_asked_again_only_when_connection_settings_change(
    adc_env, fake_gcloud, monkeypatch
):
    monkeypatch.delenv("PROJECT_ID")
    fake_gcloud.set_project("emulator-project")
    server = create_server()
    await server.reload_settings()
    assert lookups(fake_gcloud) == 1
    server.workspace_settings = {"model": "gemini-2.5-flash", "tokenCount": {"debounceMs": 5}}
    await server.reload_settings()
    assert server.model == "gemini-2.5-flash"
    assert lookups(fake_gcloud) == 1
    fake_gcloud.set_project("other-project")
    server.workspace_settings = {"location": "europe-west4"}
    await server.reload_settings()
    assert lookups(fake_gcloud) == 2
    assert server.config.project_id == "other-project"
    await server.cleanup()


async def test_a_session_reads_its_own_environment(adc_env, fake_gcloud, monkeypatch):
    environ = {"PROJECT_ID": "session-project", "GREYCLOUD_MODEL": "gemini-2.5-pro"}
    server = create_server(environ=environ)
    await server.reload_settings()
    assert server.config.project_id == "session-project"
    assert server.model == "gemini-2.5-pro"
    assert lookups(fake_gcloud) == 0
    await server.cleanup()
