"""The shared (Redis) quota in one process: several limiters stand for several processes.

Each `VertexRateLimiter` below has its own `RedisQuota` (its own connection and
local state) on the same key of a real redis-server, like separate processes.
Real time, short windows.
"""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from greycloud import GreyCloudAsyncClient, GreyCloudConfig
from greycloud.quota_url import QuotaOptions, redact_url
from greycloud.rate_limiter import VertexRateLimiter
from greycloud.shared_quota import RedisQuota
from tests.helpers import NO_HANG, free_port

KEY = ("proj", "us-central1", "gemini-test")
SLACK = 0.03  # Redis time vs this process's monotonic clock, and scheduling


def _limiters(url: str, count: int, **limits: float) -> list[VertexRateLimiter]:
    period = limits.pop("period", 1.0)
    return [
        VertexRateLimiter(**limits, period=period, shared=RedisQuota(url, KEY))  # type: ignore[arg-type]
        for _ in range(count)
    ]


async def _close(*limiters: VertexRateLimiter) -> None:
    for limiter in limiters:
        await limiter.aclose()


async def test_no_window_holds_more_than_rpm_across_limiters(redis_url):
    limiters = _limiters(redis_url, 3, rpm=4, tpm=10**9, max_concurrency=50, period=1.0)
    answered: list[float] = []

    async def one(limiter: VertexRateLimiter) -> None:
        async with limiter.limit(1):
            await asyncio.sleep(0.01)
            answered.append(time.monotonic())

    started = time.monotonic()
    await asyncio.gather(*(one(limiters[i % 3]) for i in range(14)))
    await _close(*limiters)
    answered.sort()
    assert answered[3] - started < 0.5  # the first window is usable at once
    for i in range(len(answered) - 4):
        assert answered[i + 4] - answered[i] >= 1.0 - SLACK, answered
    # 14 requests at 4 per second: three more windows after the first burst.
    assert answered[-1] - started < 3 + 1.0


async def test_a_request_in_flight_elsewhere_counts_until_answered(redis_url):
    first, second = _limiters(redis_url, 2, rpm=1, tpm=10**9, max_concurrency=10, period=0.3)
    held = await first.acquire(1)
    waiter = asyncio.create_task(second.acquire(1))
    await asyncio.sleep(0.8)  # well past the window: still in flight, still counted
    assert not waiter.done()
    held.confirm()
    answered = time.monotonic()
    reservation = await asyncio.wait_for(waiter, 3)
    assert time.monotonic() - answered >= 0.3 - SLACK  # counted from its answer on
    reservation.release()
    held.release()
    await _close(first, second)


async def test_concurrency_is_capped_across_limiters(redis_url):
    limiters = _limiters(redis_url, 2, rpm=1000, tpm=10**9, max_concurrency=2)
    active = peak = 0

    async def call(limiter: VertexRateLimiter, tokens: int) -> None:
        nonlocal active, peak
        async with limiter.limit(tokens):
            active += 1
            peak = max(peak, active)
            await asyncio.sleep(0.05)
            active -= 1

    await asyncio.gather(*(call(limiters[i % 2], i % 2) for i in range(10)))  # 0 tokens too
    await asyncio.sleep(1.05)  # the window passes: forgetting zero-token requests works
    (await asyncio.wait_for(limiters[0].acquire(0), 2)).release()
    assert limiters[0].shared is not None and limiters[0].shared.healthy
    await _close(*limiters)
    assert peak == 2


async def test_tokens_are_shared_and_corrected_by_usage(redis_url):
    first, second = _limiters(redis_url, 2, rpm=100, tpm=1000, max_concurrency=10, period=30)
    big = await first.acquire(900)
    big.release()
    waiter = asyncio.create_task(second.acquire(800))
    await asyncio.sleep(0.3)
    assert not waiter.done()  # 900 + 800 > 1000 within the window
    big.settle(100)  # the response reported 100 tokens
    reservation = await asyncio.wait_for(waiter, 2)
    reservation.release()
    assert second.tokens_in_window() == 900
    await _close(first, second)


async def test_a_429_in_one_process_slows_down_the_others(redis_url):
    first, second = _limiters(redis_url, 2, rpm=100, tpm=10**9, max_concurrency=10)
    (await first.acquire(1)).release()  # both know the shared state
    (await second.acquire(1)).release()
    first.penalize(0.6)
    await asyncio.sleep(0.05)
    started = time.monotonic()
    (await asyncio.wait_for(second.acquire(1), 3)).release()
    assert time.monotonic() - started >= 0.5
    await _close(first, second)


async def test_the_leases_of_a_process_that_died_lapse(redis_url):
    url = redis_url + "&lease_seconds=0.6"
    dead, alive = _limiters(url, 2, rpm=100, tpm=10**9, max_concurrency=1)
    await dead.acquire(1)
    assert dead.shared is not None
    dead.shared._worker.cancel()  # it dies: no release, no lease renewal
    dead.shared._held.clear()
    started = time.monotonic()
    (await asyncio.wait_for(alive.acquire(1), 5)).release()
    assert 0.4 <= time.monotonic() - started <= 3
    await _close(alive)


async def test_an_unanswered_request_of_a_dead_process_counts_from_its_lapse(redis_url):
    url = redis_url + "&lease_seconds=0.5"
    dead, alive = _limiters(url, 2, rpm=1, tpm=10**9, max_concurrency=10, period=0.5)
    await dead.acquire(1)  # sent, perhaps: no answer will ever be reported
    assert dead.shared is not None
    dead.shared._worker.cancel()
    dead.shared._held.clear()
    started = time.monotonic()
    (await asyncio.wait_for(alive.acquire(1), 5)).release()
    # The server may have received it up to the lapse (0.5 s); it counts a window from there.
    assert time.monotonic() - started >= 1.0 - SLACK
    await _close(alive)


async def test_leases_of_a_live_process_are_renewed(redis_url):
    url = redis_url + "&lease_seconds=0.3"
    holder, other = _limiters(url, 2, rpm=100, tpm=10**9, max_concurrency=1)
    held = await holder.acquire(1)
    waiter = asyncio.create_task(other.acquire(1))
    await asyncio.sleep(1.0)  # three lease lengths: renewed, so still held
    assert not waiter.done()
    held.release()
    (await asyncio.wait_for(waiter, 2)).release()
    await _close(holder, other)


async def test_first_come_first_served_across_limiters(redis_url):
    first, second = _limiters(redis_url, 2, rpm=1, tpm=10**9, max_concurrency=10, period=0.5)
    (await first.acquire(1)).release()
    order: list[str] = []

    async def take(name: str, limiter: VertexRateLimiter) -> None:
        (await limiter.acquire(1)).release()
        order.append(name)

    early = asyncio.create_task(take("second", second))
    await asyncio.sleep(0.15)
    late = asyncio.create_task(take("first", first))
    await asyncio.wait_for(asyncio.gather(early, late), 5)
    assert order == ["second", "first"]
    await _close(first, second)


async def test_tokens_first_come_first_served_across_limiters(redis_url):
    """Issue 18's case: A queues first for 700 of a 1000-token window while B keeps
    asking for 400s; A goes within about one window and B's later 400s wait behind it."""
    a, b = _limiters(redis_url, 2, rpm=1000, tpm=1000, max_concurrency=10, period=1.0)
    (await b.acquire(400)).release()  # the window holds 400: A's 700 does not fit yet
    started = time.monotonic()
    waiting_a = asyncio.create_task(a.acquire(700))
    await asyncio.sleep(0.1)  # A is queued in Redis first
    b_admitted: list[float] = []

    async def b_keeps_asking() -> None:
        while time.monotonic() - started < 4.0:
            (await b.acquire(400)).release()
            b_admitted.append(time.monotonic())

    hammer = asyncio.create_task(b_keeps_asking())
    (await asyncio.wait_for(waiting_a, 5)).release()
    a_admitted = time.monotonic()
    await asyncio.wait_for(hammer, 10)
    await _close(a, b)
    assert a_admitted - started < 1.0 + 0.6, a_admitted - started  # about one window
    assert [t for t in b_admitted if t < a_admitted] == []  # B's later 400s came after A
    assert b_admitted, "B must get its turn after A"


async def test_unreachable_redis_falls_back_to_local_limits_and_warns_once(caplog):
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0?fallback_share=0.5"
    limiter = VertexRateLimiter(
        rpm=4, tpm=10**9, max_concurrency=10, period=1.0, shared=RedisQuota(url, KEY)
    )
    caplog.set_level(logging.WARNING, logger="greycloud.quota")
    started = time.monotonic()
    times = []
    for _ in range(4):
        (await asyncio.wait_for(limiter.acquire(1), 3)).release()
        times.append(time.monotonic() - started)
    await limiter.aclose()
    assert times[1] < 0.5  # answered at once, locally: 2 (half of 4) per window
    assert times[2] >= 1.0 - SLACK
    warnings = [r.getMessage() for r in caplog.records if r.name == "greycloud.quota"]
    assert len(warnings) == 1 and "50%" in warnings[0]
    assert "hunter2" not in caplog.text and "***" in warnings[0]


async def test_wrong_password_falls_back_without_showing_it(redis_url, caplog):
    url = redis_url.replace("redis://", "redis://alice:s3cret-pw@")  # no such user
    limiter = VertexRateLimiter(rpm=5, tpm=10**9, max_concurrency=5, shared=RedisQuota(url, KEY))
    caplog.set_level(logging.WARNING, logger="greycloud.quota")
    (await asyncio.wait_for(limiter.acquire(1), 3)).release()
    await limiter.aclose()
    assert limiter.shared is not None and not limiter.shared.healthy
    assert "s3cret-pw" not in caplog.text
    assert "not answering" in caplog.text


async def test_rejoins_the_shared_state_when_redis_returns(redis_server, redis_url):
    first, second = _limiters(redis_url, 2, rpm=4, tpm=10**9, max_concurrency=10, period=4.0)
    (await first.acquire(1)).release()
    redis_server.stop()
    try:
        for _ in range(2):  # admitted locally while Redis is away
            (await asyncio.wait_for(first.acquire(1), 3)).release()
        assert first.shared is not None and not first.shared.healthy
    finally:
        redis_server.start()  # a restart: Redis lost everything
    await asyncio.sleep(1.1)  # the next attempt to reach Redis is due
    # first rejoins and writes back its 3 requests still in the window, then takes a 4th.
    (await asyncio.wait_for(first.acquire(1), 3)).release()
    assert first.shared.healthy
    waiter = asyncio.create_task(second.acquire(1))
    await asyncio.sleep(0.5)
    assert not waiter.done()  # the shared window is full again
    (await asyncio.wait_for(waiter, 6)).release()
    await _close(first, second)


async def test_a_request_beyond_the_fallback_share_waits_for_redis_not_forever(
    redis_server, redis_url
):
    """While Redis is away a process has half the tokens; a request that needs more
    goes once Redis answers again (nothing else would wake it)."""
    (limiter,) = _limiters(f"{redis_url}&fallback_share=0.5", 1, rpm=100, tpm=100, period=1.0)
    (await limiter.acquire(1)).release()
    redis_server.stop()
    try:
        (await asyncio.wait_for(limiter.acquire(30), 3)).release()  # within the half
        assert limiter.shared is not None and not limiter.shared.healthy
        big = asyncio.create_task(limiter.acquire(80))
        await asyncio.sleep(1.5)  # the 30 left the window; 80 still exceeds the half
        assert not big.done()
    finally:
        redis_server.start()
    (await asyncio.wait_for(big, NO_HANG)).release()
    assert limiter.shared.healthy
    await _close(limiter)


def test_quota_url_options_are_parsed_and_checked():
    options = QuotaOptions.parse("redis://:pw@h:6380/2?prefix=team:&lease_seconds=5&timeout=1")
    assert (options.prefix, options.lease_seconds, options.timeout) == ("team:", 5.0, 1.0)
    assert options.connect_url == "redis://:pw@h:6380/2"
    with pytest.raises(ValueError, match="fallback_share") as error:
        QuotaOptions.parse("redis://:pw@h/0?fallback_share=2")
    assert "pw" not in str(error.value)
    with pytest.raises(ValueError, match="not a Redis URL") as error:
        QuotaOptions.parse("http://user:topsecret@h/")
    assert "topsecret" not in str(error.value)
    assert redact_url("redis://u:topsecret@h:1/0?x=1") == "redis://u:***@h:1/0"


def test_config_reads_the_quota_url_and_the_client_shares_it(monkeypatch):
    monkeypatch.setenv("GREYCLOUD_QUOTA_URL", "redis://:pw@127.0.0.1:1/0?prefix=p:")
    config = GreyCloudConfig(project_id="p1", location="europe-west4", model="m1")
    assert "pw" not in repr(config)
    client = GreyCloudAsyncClient(config, rpm=7)
    shared = client.rate_limiter.shared
    assert shared is not None and client.rate_limiter.rpm == 7
    assert shared.keys[0] == "p:quota:{p1/europe-west4/m1}:lease"
    monkeypatch.delenv("GREYCLOUD_QUOTA_URL")
    assert GreyCloudAsyncClient(GreyCloudConfig(project_id="p1")).rate_limiter.shared is None
    with pytest.raises(ValueError, match="quota_url"):
        GreyCloudConfig(project_id="p1", quota_url="localhost:6379")


def test_the_server_setting_reaches_the_client_config_and_logs_masked():
    from greycloud_lsp.settings import Settings, apply_layer, dump_settings

    problems: list = []
    settings = apply_layer(Settings(), {"quotaUrl": "redis://:pw9@10.0.0.5:6379/1"}, problems)
    assert problems == []
    assert settings.client_config_overrides()["quota_url"] == "redis://:pw9@10.0.0.5:6379/1"
    assert "pw9" not in repr(settings)
    assert dump_settings(settings)["quotaUrl"] == "redis://:***@10.0.0.5:6379/1"


async def _script_calls(port: int) -> int:
    import redis.asyncio as aioredis

    client = aioredis.Redis(port=port)
    stats = await client.info("commandstats")
    await client.aclose()
    return sum(v["calls"] for k, v in stats.items() if k.startswith("cmdstat_eval"))


async def test_waiters_sleep_until_room_is_due_instead_of_polling(redis_server, redis_url):
    """A backlog of three windows across three limiters: a waiter asks Redis again
    when its room is due, not every 0.5 s nor on every answer of its process."""
    limiters = _limiters(redis_url, 3, rpm=5, tpm=10**9, max_concurrency=50, period=3.0)
    for limiter in limiters:  # connections and scripts ready: count the steady state
        (await limiter.acquire(0)).release()
    await asyncio.sleep(3.1)
    before = await _script_calls(redis_server.port)

    async def one(limiter: VertexRateLimiter) -> None:
        async with limiter.limit(1):
            await asyncio.sleep(0.02)

    started = time.monotonic()
    await asyncio.wait_for(asyncio.gather(*(one(limiters[i % 3]) for i in range(15))), NO_HANG)
    elapsed = time.monotonic() - started
    await _close(*limiters)
    calls = await _script_calls(redis_server.port) - before
    assert elapsed < 2 * 3.0 + 1.5  # three windows: the burst, then two more
    # One admission each plus its batched updates (2.6 here); polling every 0.5 s
    # through a window took 4.5.
    assert calls / 15 <= 3.0, calls
