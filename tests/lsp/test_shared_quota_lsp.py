"""Two language servers with the same ``quotaUrl`` share one quota through a real Redis."""

from __future__ import annotations

import asyncio

from tests.lsp.lsp_helpers import execute, language_servers


async def test_two_servers_share_max_concurrency_through_redis(adc_env, redis_url, tmp_path):
    adc_env.state.configure(stream_chunk_delay=0.02)
    settings = {"quotaUrl": redis_url, "maxConcurrency": 2, "rpm": 100}
    async with language_servers(tmp_path) as start:
        clients = [await start(settings=settings), await start(settings=settings)]
        results = await asyncio.gather(
            *(
                execute(client, "greycloud.generate", {"prompt": f"n{i} [[words=120]]"})
                for client in clients
                for i in range(4)
            )
        )
    assert all(r["text"] and not r["cancelled"] for r in results)
    records = adc_env.state.requests_for("streamGenerateContent")
    assert len(records) == 8 and all(r.status == 200 for r in records)
    events = sorted([(r.time, 1) for r in records] + [(r.end_time, -1) for r in records])
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    # Each server alone would allow 2; together they still run at most 2.
    assert peak <= 2, f"{peak} streams ran at once across two servers sharing maxConcurrency 2"
