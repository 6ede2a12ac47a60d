"""One worker process sharing a quota through Redis (run by the shared-quota tests and benchmark).

    python tests/quota_worker.py run  DIR NAME --requests N --rpm R --window W ...
    python tests/quota_worker.py hold DIR NAME --hold K ...

Talks to the emulator named by the environment (ADC key, PROJECT_ID,
GREYCLOUD_ENDPOINT). Writes ``DIR/NAME.ready`` once warmed up (a token count and,
in ``run``, one generate per client: it counts in the quota's window), waits for
``DIR/go`` (and the wall-clock time written in it, if any), then:

* ``run``: sends N requests through `GreyCloudAsyncClient.generate_with_retry`
  at once and writes ``DIR/NAME.json`` (successes, failures, seconds); with
  ``--clients K`` the N requests are spread over K clients in this process, each
  with its own limiter and Redis connection (K "processes" in one);
* ``hold``: takes K concurrency slots and never gives them back (to be killed).

Logs (``greycloud.quota`` at INFO) go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from greycloud import GreyCloudAsyncClient, GreyCloudConfig
from greycloud.rate_limiter import VertexRateLimiter
from greycloud.shared_quota import RedisQuota


def _wait_for(path: Path) -> float | None:
    """Wait for ``path``; return the start time written in it, if any."""
    while not path.exists():
        time.sleep(0.005)
    text = path.read_text().strip()
    return float(text) if text else None


def _limiter(args: argparse.Namespace, config: GreyCloudConfig) -> VertexRateLimiter:
    key = (config.project_id or "-", config.location or "-", config.model or "-")
    return VertexRateLimiter(
        rpm=args.rpm,
        tpm=10**9,
        max_concurrency=args.concurrency,
        period=args.window,
        shared=RedisQuota(args.quota_url, key),
    )


async def main(args: argparse.Namespace) -> None:
    directory = Path(args.directory)
    config = GreyCloudConfig()
    limiters = [_limiter(args, config) for _ in range(args.clients)]
    clients = [GreyCloudAsyncClient(config, rate_limiter=limiter) for limiter in limiters]
    for client in clients:
        await client.ensure_client()
        await client.count_tokens("warm up", fallback=False)  # token, connections, scripts
        if args.mode == "run":  # a first generate builds its request and response models
            await client.generate_with_retry("warm up")
    client, limiter = clients[0], limiters[0]
    if args.mode == "hold":
        held = [await limiter.acquire(1) for _ in range(args.hold)]
        (directory / f"{args.name}.ready").write_text(str(len(held)))
        await asyncio.sleep(3600)
        return
    (directory / f"{args.name}.ready").write_text("")
    start_at = await asyncio.to_thread(_wait_for, directory / "go")
    if start_at:  # a wall-clock time shared by every worker on this host
        await asyncio.sleep(max(0.0, start_at - time.time()))
    started = time.monotonic()

    async def one(i: int) -> str:
        try:
            sender = clients[i % len(clients)]
            await sender.generate_with_retry(f"{args.name} request {i}", max_retries=10)
            return "ok"
        except Exception as exc:  # reported, not raised: the test reads them all
            return f"{type(exc).__name__}: {exc}"

    outcomes = await asyncio.gather(*(one(i) for i in range(args.requests)))
    result = {
        "ok": outcomes.count("ok"),
        "failed": [o for o in outcomes if o != "ok"],
        "seconds": time.monotonic() - started,
    }
    for client in clients:
        await client.aclose()
    for limiter in limiters:
        await limiter.aclose()
    (directory / f"{args.name}.json").write_text(json.dumps(result))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["run", "hold"])
    parser.add_argument("directory")
    parser.add_argument("name")
    parser.add_argument("--quota-url", required=True)
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--rpm", type=int, default=10)
    parser.add_argument("--window", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--hold", type=int, default=1)
    parser.add_argument("--clients", type=int, default=1)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("greycloud.quota").setLevel(logging.INFO)
    asyncio.run(main(parser.parse_args()))
