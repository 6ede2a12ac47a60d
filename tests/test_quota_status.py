"""Seeing the quota: `VertexRateLimiter.status`, the Redis read, ``greycloud quota status``.

Real redis-server (tests/redis_server.py), real worker processes
(tests/quota_worker.py) holding and waiting for slots, the real command line
in its own process, the emulator over HTTP.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from greycloud import GreyCloudAsyncClient
from greycloud.quota_status import QuotaStatus, format_quotas, quota_json
from greycloud.rate_limiter import VertexRateLimiter
from greycloud.shared_quota import RedisQuota
from tests.helpers import FAST_RETRY, NO_HANG, free_port

ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).with_name("quota_worker.py")
OWN = ("emulator-project", "us-central1", "gemini-3-flash-preview")  # adc_env's default quota
PROMPT = "Describe picturesque mountainside landscapes [[words=3000]]"  # 11 input tokens
QUOTA_FIELDS = {
    "project",
    "location",
    "model",
    "source",
    "periodSeconds",
    "requests",
    "tokens",
    "inFlight",
    "waiting",
    "waitingTokens",
    "blockedSeconds",
    "rpm",
    "tpm",
    "maxConcurrency",
    "tpmCounts",
}


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "greycloud", "quota", "status", *args],
        cwd=ROOT,
        env=env or dict(os.environ),
        capture_output=True,
        text=True,
        timeout=NO_HANG,
    )


async def _until(predicate, what: str, timeout: float = NO_HANG):
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
def workers(tmp_path):
    """Start tests/quota_worker.py processes; each is killed by its PID at the end."""
    started: list[subprocess.Popen[bytes]] = []
    directory = tmp_path / "workers"
    directory.mkdir()

    def start(name: str, *args: str) -> Path:
        log = (directory / f"{name}.log").open("wb")
        started.append(
            subprocess.Popen(
                [sys.executable, str(WORKER), "hold", str(directory), name, *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        )
        log.close()
        return directory / f"{name}.ready"

    yield start
    for process in started:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


# -- one process's limiter -------------------------------------------------------------


async def test_limiter_status_shows_window_in_flight_and_waiting_with_their_tokens():
    limiter = VertexRateLimiter(rpm=10, tpm=1000, max_concurrency=1, tpm_counts="total")
    first = await limiter.acquire(40)
    waiter = asyncio.create_task(limiter.acquire(25))
    await asyncio.sleep(0.05)
    status = limiter.status()
    assert status == QuotaStatus(
        requests=1,
        tokens=40,
        in_flight=1,
        waiting=1,
        waiting_tokens=25,
        period=60.0,
        rpm=10,
        tpm=1000,
        max_concurrency=1,
        tpm_counts="total",
    )
    first.settle(30)
    first.release()
    second = await asyncio.wait_for(waiter, NO_HANG)
    limiter.penalize(5)
    status = limiter.status()
    assert (status.requests, status.tokens, status.in_flight, status.waiting) == (2, 55, 1, 0)
    assert (status.waiting_tokens, 4 < status.blocked_seconds <= 5) == (0, True)
    second.release()


def test_the_text_block_fits_one_screen_with_headings():
    rows = [
        quota_json(("p", "us-central1", f"gemini-{i}"), QuotaStatus(i, 11 * i, 1, i % 3, None))
        for i in range(30)
    ]
    text = format_quotas(rows)
    lines = text.splitlines()
    assert lines[0].startswith("quotas (local, window 60 s")
    assert (
        lines[1].split()
        == "quota (project/location/model) requests tokens in flight waiting".split()
    )
    assert len(lines) <= 16 and all(len(line) <= 100 for line in lines)
    assert lines[-1] == "  ... and 18 more (--json lists all)"
    assert format_quotas([]) == "quotas: none"


# -- the shared quota, read from Redis ---------------------------------------------


async def test_redis_settlement_charges_input_tokens_and_status_reads_it(adc_env, redis_url):
    key = ("emulator-project", "us-central1", "gemini-2.5-flash")
    limiter = VertexRateLimiter(rpm=100, tpm=10_000, shared=RedisQuota(redis_url, key))
    async with GreyCloudAsyncClient(rate_limiter=limiter, retry_policy=FAST_RETRY) as client:
        response = await client.generate_content(PROMPT)
    await limiter.aclose()  # flushes the settlement to Redis
    assert response.usage_metadata.total_token_count > 3000
    reader = RedisQuota(redis_url, key)
    status = await reader.read_status()
    assert (status.requests, status.tokens, status.in_flight, status.waiting) == (1, 11, 0, 0)
    assert status.source == "redis" and status.waiting_tokens == 0
    assert await reader.known_keys() == [key]
    await reader.aclose()


async def test_quota_status_shows_what_other_processes_hold_and_wait_for(
    adc_env, redis_url, workers, monkeypatch
):
    monkeypatch.setenv("GREYCLOUD_QUOTA_URL", redis_url)
    # the workers' window is the 60 s the command reads with (their scripts expire entries)
    shape = ("--quota-url", redis_url, "--concurrency", "2", "--window", "60")
    holder = workers("holder", *shape, "--hold", "2")
    await _until(lambda: asyncio.sleep(0, holder.exists()), "the holder's two slots")
    workers("waiter", *shape, "--hold", "1")
    reader = RedisQuota(redis_url, OWN)

    async def waiting() -> bool:
        return (await reader.read_status()).waiting == 1

    await _until(waiting, "the second process to queue")
    await reader.aclose()

    shown = _cli("--json")
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    assert set(report) == {"shared", "url", "periodSeconds", "quotas"}
    assert report["shared"] is True and report["periodSeconds"] == 60
    (own,) = report["quotas"]
    assert set(own) == QUOTA_FIELDS
    assert own == {
        **dict(zip(("project", "location", "model"), OWN, strict=True)),
        "source": "redis",
        "periodSeconds": 60.0,
        "requests": 3,  # the holder's warm-up count (0 tokens) and its two slots
        "tokens": 2,
        "inFlight": 2,
        "waiting": 1,
        "waitingTokens": 0,  # the waiter waits with its warm-up count, which charges none
        "blockedSeconds": 0,
        "rpm": 60,
        "tpm": 250_000,
        "maxConcurrency": 10,
        "tpmCounts": "input",
    }

    text = _cli()
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0] == f"shared quota at {redis_url.split('?')[0]}"
    assert lines[1].startswith("quotas (redis, window 60 s, tokens = input tokens")
    assert lines[3].split() == [
        "emulator-project/us-central1/gemini-3-flash-preview",
        "3/60",
        "2/250,000",
        "2/10",
        "1",
    ]


async def test_quota_status_lists_every_quota_key_under_the_prefix(adc_env, redis_url):
    other = ("emulator-project", "europe-west4", "gemini-2.5-pro")
    limiter = VertexRateLimiter(shared=RedisQuota(redis_url, other))
    held = await limiter.acquire(7)
    shown = _cli("--json", env={**os.environ, "GREYCLOUD_QUOTA_URL": redis_url})
    held.release()
    await limiter.aclose()
    quotas = json.loads(shown.stdout)["quotas"]
    assert [(q["project"], q["location"], q["model"]) for q in quotas] == [OWN, other]
    assert quotas[0]["requests"] == 0 and quotas[0]["rpm"] == 60  # this configuration's
    assert (quotas[1]["inFlight"], quotas[1]["tokens"], quotas[1]["rpm"]) == (1, 7, None)


def test_without_a_shared_quota_it_says_where_to_look(adc_env):
    text = _cli()
    assert text.returncode == 0
    assert "quota_url (GREYCLOUD_QUOTA_URL) is not set" in text.stdout
    assert "greycloud-lsp daemon status" in text.stdout
    report = json.loads(_cli("--json").stdout)
    assert (report["shared"], report["quotas"]) == (False, [])


def test_redis_not_answering_is_an_error_without_the_password(adc_env):
    url = f"redis://:hunter2secret@127.0.0.1:{free_port()}/0?timeout=0.5"
    shown = _cli("--json", env={**os.environ, "GREYCLOUD_QUOTA_URL": url})
    assert shown.returncode == 1 and shown.stdout == ""
    assert "is not answering" in shown.stderr and "quota_url" in shown.stderr
    assert "hunter2secret" not in shown.stderr and ":***@127.0.0.1" in shown.stderr
