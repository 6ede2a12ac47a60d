"""The shared quota on Redis Cluster and Sentinel, on real servers the tests start.

Several `VertexRateLimiter`s, each with its own `RedisQuota` (its own
connections), stand for several processes. The Sentinel failover with worker
processes and the emulator is in test_shared_quota_processes.py.
"""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from redis.crc import key_slot

from greycloud._quota_lua import quota_keys
from greycloud.quota_client import explain, kind
from greycloud.quota_url import QuotaOptions, redact_url
from greycloud.rate_limiter import VertexRateLimiter
from greycloud.shared_quota import RedisQuota
from tests.helpers import NO_HANG

KEY = ("proj", "us-central1", "gemini-test")
SLACK = 0.03


def _limiters(url: str, count: int, **limits: float) -> list[VertexRateLimiter]:
    period = limits.pop("period", 1.0)
    return [
        VertexRateLimiter(**limits, period=period, shared=RedisQuota(url, KEY))  # type: ignore[arg-type]
        for _ in range(count)
    ]


async def _close(*limiters: VertexRateLimiter) -> None:
    for limiter in limiters:
        await limiter.aclose()


def test_cluster_and_sentinel_urls_are_parsed_and_masked():
    cluster = QuotaOptions.parse("redis+cluster://:pw@10.0.0.1:7000,10.0.0.2?prefix=t:")
    assert cluster.topology == "cluster" and cluster.prefix == "t:"
    assert cluster.nodes == (("10.0.0.1", 7000), ("10.0.0.2", 6379))
    sentinel = QuotaOptions.parse(
        "rediss+sentinel://u:pw@s1,s2:26380/mymaster/2?sentinel_password=sp&failover_timeout=5"
    )
    assert sentinel.topology == "sentinel" and sentinel.service_name == "mymaster"
    assert sentinel.nodes == (("s1", 26379), ("s2", 26380))
    assert sentinel.connect_url == "rediss://u:pw@s1:26379/2"  # redis-py reads the login, db, TLS
    assert sentinel.failover_timeout == 5.0 and sentinel.sentinel_password == "sp"
    assert "pw" not in repr(sentinel) and "sp" not in repr(sentinel)
    shown = redact_url("redis+sentinel://u:pw@s1,s2:26380/mymaster/2?sentinel_password=sp")
    assert shown == "redis+sentinel://u:***@s1,s2:26380/mymaster/2"
    for bad, says in (
        ("redis+sentinel://:pw@s1:26379", "names no master"),
        ("redis+cluster://:pw@h:7000/3", "only database 0"),
        ("redis+cluster://:pw@h:port", "is not host:port"),
        ("redis+sentinel://:pw@s1/m?failover_timeout=soon", "failover_timeout"),
    ):
        with pytest.raises(ValueError, match=says) as error:
            QuotaOptions.parse(bad)
        assert "pw" not in str(error.value)


def test_error_texts_never_show_a_password_and_failovers_are_told_apart():
    from redis.exceptions import AuthenticationError, ConnectionError, ReadOnlyError

    url = "redis+sentinel://:s%40cret-pw@s1/m?sentinel_password=sentinel-pw"
    options = QuotaOptions.parse(url)
    said = ConnectionError("refused: redis://:s%40cret-pw@s1:26379/0 (s@cret-pw, sentinel-pw)")
    text = explain(said, options, redact_url(url))
    assert "cret-pw" not in text and "sentinel-pw" not in text and "***" in text
    assert kind(said, options) == "failover"
    assert kind(ReadOnlyError("READONLY"), options) == "failover"  # a demoted master
    assert kind(AuthenticationError("WRONGPASS"), options) == "down"  # no election fixes it
    plain = QuotaOptions.parse("redis://h:6379/0")
    assert kind(said, plain) == "down"  # one server: nothing to fail over to
    assert kind(ReadOnlyError("READONLY"), plain) == "replica"


def test_every_key_of_a_quota_is_in_one_cluster_slot():
    for prefix, key in (
        ("greycloud:", KEY),
        ("team{a}:", KEY),  # braces in the prefix
        ("p:", ("proj", "loc", "model}x{y")),  # and in the key
    ):
        keys = quota_keys(prefix, key)
        assert len({key_slot(k.encode()) for k in keys}) == 1, keys


async def test_cluster_url_shares_one_quota(redis_cluster, redis_url):
    url = f"{redis_cluster.url}?prefix={redis_url.rpartition('prefix=')[2]}"
    limiters = _limiters(url, 3, rpm=4, tpm=10**9, max_concurrency=50, period=1.0)
    answered: list[float] = []

    async def one(limiter: VertexRateLimiter) -> None:
        async with limiter.limit(1):
            await asyncio.sleep(0.01)
            answered.append(time.monotonic())

    await asyncio.wait_for(asyncio.gather(*(one(limiters[i % 3]) for i in range(10))), NO_HANG)
    keys = limiters[0].shared.keys  # type: ignore[union-attr]
    assert all(limiter.shared.healthy for limiter in limiters)  # type: ignore[union-attr]
    await _close(*limiters)
    answered.sort()
    for i in range(len(answered) - 4):
        assert answered[i + 4] - answered[i] >= 1.0 - SLACK, answered
    # The state is on the master that owns the hash tag's slot.
    import redis.asyncio as aioredis

    owner = aioredis.Redis(port=redis_cluster.owner(keys[0]))
    assert await owner.hget(keys[4], "epoch")  # meta: kept past the window
    await owner.aclose()


async def test_a_plain_url_at_a_cluster_node_says_to_use_the_cluster_url(
    redis_cluster, redis_url, caplog
):
    prefix = redis_url.rpartition("prefix=")[2]
    keys = quota_keys(prefix, KEY)
    other = next(p for p in redis_cluster.ports if p != redis_cluster.owner(keys[0]))
    url = f"redis://:pw-never-shown@127.0.0.1:{other}/0?prefix={prefix}"
    caplog.set_level(logging.WARNING, logger="greycloud.quota")
    (limiter,) = _limiters(url, 1, rpm=5, tpm=10**9, max_concurrency=5)
    (await asyncio.wait_for(limiter.acquire(1), NO_HANG)).release()
    await limiter.aclose()
    assert not limiter.shared.healthy  # type: ignore[union-attr]
    assert "cannot hold the quota (MovedError" in caplog.text
    assert f"use redis+cluster://:***@127.0.0.1:{other}/0" in caplog.text
    assert "pw-never-shown" not in caplog.text


@pytest.mark.parametrize("failover", ["master killed", "SENTINEL FAILOVER"])
async def test_sentinel_url_follows_a_failover_and_keeps_the_window(
    redis_sentinel, caplog, failover
):
    """The master dies (or is demoted: READONLY) holding a full window: admissions
    wait for the new master (no fallback), then the window is still full there."""
    caplog.set_level(logging.INFO, logger="greycloud.quota")
    url = f"{redis_sentinel.url}?prefix=failover:&failover_timeout=30"
    first, second = _limiters(url, 2, rpm=4, tpm=10**9, max_concurrency=10, period=4.0)
    filled = time.monotonic()
    (await asyncio.wait_for(second.acquire(1), NO_HANG)).release()  # both know the master
    for _ in range(3):
        (await asyncio.wait_for(first.acquire(1), NO_HANG)).release()
    await asyncio.sleep(0.3)  # the answers reach Redis and its replica
    if failover == "master killed":
        redis_sentinel.kill_master()
    else:
        redis_sentinel.fail_over()
    waiter = asyncio.create_task(second.acquire(1))
    await asyncio.to_thread(redis_sentinel.wait_promoted)
    reservation = await asyncio.wait_for(waiter, NO_HANG)
    admitted = time.monotonic()
    reservation.release()
    await _close(first, second)
    assert admitted - filled >= 4.0 - SLACK  # the full window held across the failover
    for limiter in (first, second):
        assert limiter.shared.healthy  # type: ignore[union-attr]
    # Seen as an error (then "answers again after N s") or only as a new master.
    assert "is failing over" in caplog.text or "the master is now" in caplog.text
    assert "not answering" not in caplog.text  # never fell back to the local share


async def test_a_plain_url_at_a_replica_says_to_use_the_master_or_sentinel(redis_sentinel, caplog):
    caplog.set_level(logging.WARNING, logger="greycloud.quota")
    url = f"redis://127.0.0.1:{redis_sentinel.replica}/0?prefix=replica:"
    (limiter,) = _limiters(url, 1, rpm=5, tpm=10**9, max_concurrency=5)
    (await asyncio.wait_for(limiter.acquire(1), NO_HANG)).release()
    await limiter.aclose()
    assert not limiter.shared.healthy  # type: ignore[union-attr]
    assert "cannot hold the quota (ReadOnlyError" in caplog.text
    assert "is a read-only replica" in caplog.text and "redis+sentinel://" in caplog.text
