"""A lane in the quota: try_acquire never queues, a lane takes at most its share.

In-process on the virtual clock, and across "processes" (separate limiters and
`RedisQuota` connections) on a real redis-server.
"""

from __future__ import annotations

import asyncio

import pytest
from google.genai import types

from greycloud import GreyCloudConfig
from greycloud.quota_lane import LaneFullError, LaneLimiter, lane_limits, lane_of
from greycloud.rate_limiter import VertexRateLimiter
from greycloud.shared_quota import RedisQuota
from tests.virtual_clock import VirtualClock


async def test_try_acquire_admits_at_once_when_there_is_room():
    async with VirtualClock() as clock:
        limiter = VertexRateLimiter(rpm=2, tpm=1000, max_concurrency=5, clock=clock)
        first = await limiter.try_acquire(10, max_wait=0)
        second = await limiter.try_acquire(10, max_wait=0)
        third = await limiter.try_acquire(10, max_wait=0)
        assert first is not None and second is not None
        assert third is None  # the window is full: dropped, not queued
        assert limiter.waiting == 0 and limiter.in_flight == 2
        first.release()
        second.release()


async def test_try_acquire_waits_only_within_its_budget():
    async with VirtualClock() as clock:
        limiter = VertexRateLimiter(rpm=1, tpm=1000, max_concurrency=5, period=10, clock=clock)
        (await limiter.try_acquire(1, max_wait=0)).release()  # type: ignore[union-attr]
        assert await limiter.try_acquire(1, max_wait=5) is None  # room only at t=10
        assert clock.now() == 0.0  # gave up at once: it knew room comes too late
        later = await limiter.try_acquire(1, max_wait=11)
        assert later is not None and clock.now() == pytest.approx(10.0)
        later.release()


async def test_try_acquire_never_goes_ahead_of_a_waiting_caller():
    async with VirtualClock() as clock:
        limiter = VertexRateLimiter(rpm=1, tpm=1000, max_concurrency=5, period=10, clock=clock)
        (await limiter.acquire(1)).release()
        command = asyncio.create_task(limiter.acquire(1))
        await clock.settle()
        assert limiter.waiting == 1
        assert await limiter.try_acquire(1, max_wait=100) is None  # someone waits: dropped
        (await command).release()


async def test_a_caller_arriving_while_try_acquire_sleeps_goes_first():
    async with VirtualClock() as clock:
        limiter = VertexRateLimiter(rpm=1, tpm=1000, max_concurrency=5, period=10, clock=clock)
        (await limiter.acquire(1)).release()
        background = asyncio.create_task(limiter.try_acquire(1, max_wait=20))
        await clock.settle()
        command = asyncio.create_task(limiter.acquire(1))
        reservation = await command
        assert clock.now() == pytest.approx(10.0)
        assert await background is None  # the command took the room: the completion drops
        reservation.release()


async def test_try_acquire_refuses_what_can_never_fit_and_a_full_slot_set():
    async with VirtualClock() as clock:
        limiter = VertexRateLimiter(rpm=100, tpm=50, max_concurrency=1, clock=clock)
        assert await limiter.try_acquire(51, max_wait=100) is None
        held = await limiter.try_acquire(1, max_wait=0)
        assert held is not None
        assert await limiter.try_acquire(1, max_wait=100) is None  # only an answer frees it
        held.release()


async def test_a_withdrawn_reservation_leaves_no_trace():
    async with VirtualClock() as clock:
        limiter = VertexRateLimiter(rpm=1, tpm=100, max_concurrency=1, clock=clock)
        reservation = await limiter.try_acquire(40, max_wait=0)
        assert reservation is not None
        reservation.withdraw()
        assert limiter.requests_in_window() == 0 and limiter.tokens_in_window() == 0
        again = await limiter.try_acquire(40, max_wait=0)
        assert again is not None
        again.release()
        assert limiter.requests_in_window() == 1  # a released call counts in the window


async def test_lane_takes_at_most_its_share_and_leaves_the_rest():
    async with VirtualClock() as clock:
        quota = VertexRateLimiter(rpm=20, tpm=10_000, max_concurrency=8, period=60, clock=clock)
        config = GreyCloudConfig(project_id="p", location="l", model="m")
        lane = lane_of(quota, config)
        assert lane_of(quota, config) is lane  # one lane per quota
        limiter = LaneLimiter(quota, lane, share=0.25, max_wait=0.3)
        admitted = dropped = 0
        for _ in range(12):
            try:
                (await limiter.acquire(10)).release()
                admitted += 1
            except LaneFullError:
                dropped += 1
        assert (admitted, dropped) == (5, 7)  # 25 % of 20 rpm
        assert quota.requests_in_window() == 5
        # The rest of the quota is there for commands, at once.
        for _ in range(15):
            (await quota.acquire(10)).release()
        assert clock.now() == 0.0
        # Dropped completions never touched the quota: nothing waits, nothing to 429.
        assert quota.requests_in_window() == 20 and quota.waiting == 0


async def test_a_lane_counts_tokens_as_its_quota_does():
    async with VirtualClock() as clock:
        quota = VertexRateLimiter(
            rpm=20, tpm=10_000, max_concurrency=8, clock=clock, tpm_counts="total"
        )
        config = GreyCloudConfig(project_id="p", location="l", model="m-total")
        lane = lane_of(quota, config)
        limiter = LaneLimiter(quota, lane, share=0.5, max_wait=0)
        reservation = await limiter.acquire(10)
        usage = types.GenerateContentResponseUsageMetadata(
            prompt_token_count=10, candidates_token_count=90, total_token_count=100
        )
        reservation.settle_usage(usage)
        reservation.release()
        # The lane's tpm is a share of a quota counting all tokens: it counts them too.
        assert lane.tpm_counts == "total"
        assert (lane.tokens_in_window(), quota.tokens_in_window()) == (100, 100)


async def test_lane_concurrency_and_tokens_follow_the_share():
    quota = VertexRateLimiter(rpm=1000, tpm=1000, max_concurrency=9)
    assert lane_limits(quota, 0.25) == (250, 250, 2)
    assert lane_limits(quota, 0.01) == (10, 10, 1)  # never below one
    with pytest.raises(ValueError, match="share"):
        LaneLimiter(quota, quota, share=0, max_wait=0)


async def test_a_lane_call_dropped_by_the_quota_gives_the_lane_back():
    async with VirtualClock() as clock:
        quota = VertexRateLimiter(rpm=4, tpm=10_000, max_concurrency=8, clock=clock)
        config = GreyCloudConfig(project_id="p", location="l", model="m2")
        lane = lane_of(quota, config)
        limiter = LaneLimiter(quota, lane, share=0.5, max_wait=0)
        held = [await quota.acquire(1) for _ in range(4)]  # commands used the whole quota
        with pytest.raises(LaneFullError):
            await limiter.acquire(1)
        assert lane.requests_in_window() == 0  # the lane's own window is untouched
        for reservation in held:
            reservation.release()


# -- shared through Redis ------------------------------------------------------------


def _config(url: str) -> GreyCloudConfig:
    return GreyCloudConfig(project_id="p", location="l", model="gemini-lane", quota_url=url)


async def test_lane_is_shared_across_processes_on_redis(redis_url):
    key = ("p", "l", "gemini-lane")
    quotas = [
        VertexRateLimiter(rpm=8, tpm=10**6, max_concurrency=8, shared=RedisQuota(redis_url, key))
        for _ in range(2)
    ]
    lanes = [lane_of(q, _config(redis_url)) for q in quotas]
    assert lanes[0] is not lanes[1] and lanes[0].shared is not None
    assert lanes[0].shared.keys[0].endswith("gemini-lane/completion}:lease")
    limiters = [
        LaneLimiter(q, lane, share=0.5, max_wait=1.0) for q, lane in zip(quotas, lanes, strict=True)
    ]
    admitted = 0
    try:
        for i in range(8):
            try:
                reservation = await limiters[i % 2].acquire(10)
            except LaneFullError:
                continue
            reservation.confirm()
            reservation.release()
            admitted += 1
        assert admitted == 4  # half of 8 rpm, across both "processes"
        # The other half is still there for a command in either process, at once.
        for quota in quotas:
            reservation = await asyncio.wait_for(quota.acquire(10), 2)
            reservation.release()
    finally:
        for limiter in (*quotas, *lanes):
            await limiter.aclose()


async def test_closing_a_quota_closes_its_lanes_redis_connections(redis_url):
    quota = VertexRateLimiter(
        rpm=8, tpm=10**6, max_concurrency=8, shared=RedisQuota(redis_url, ("p", "l", "gl-close"))
    )
    config = GreyCloudConfig(project_id="p", location="l", model="gl-close", quota_url=redis_url)
    lane = lane_of(quota, config)
    reservation = await LaneLimiter(quota, lane, share=0.5, max_wait=1.0).acquire(10)
    reservation.release()
    assert lane.shared is not None and lane.shared._client is not None  # connected
    # Nobody else holds the lane (lane_of made it): the quota's owner closes it with the quota.
    await quota.aclose()
    assert lane.shared._client is None
    again = lane_of(quota, config)
    assert again is not lane  # a closed lane is not handed out again
    await again.aclose()
