"""VertexRateLimiter on a virtual clock: windows, tokens, concurrency, 429s, cancellation."""

from __future__ import annotations

import asyncio

import pytest

from greycloud.errors import RequestTooLargeError
from greycloud.rate_limiter import VertexRateLimiter
from tests.helpers import PROMPTLY
from tests.virtual_clock import VirtualClock


async def _admit_all(limiter: VertexRateLimiter, count: int, tokens: int = 1) -> list[float]:
    times: list[float] = []

    async def one() -> None:
        async with limiter.limit(tokens):
            times.append(limiter.clock.now())

    await asyncio.gather(*(one() for _ in range(count)))
    return sorted(times)


async def test_no_window_ever_holds_more_than_rpm():
    async with VirtualClock() as clock:
        limiter = VertexRateLimiter(rpm=10, tpm=10**9, max_concurrency=100, clock=clock)
        times = await _admit_all(limiter, 35)
    assert times[:10] == [0.0] * 10  # the limit is usable at once, and no more
    for i in range(len(times) - 10):
        assert times[i + 10] - times[i] >= 60.0
    # A steady backlog runs exactly at the limit: 35 requests take 3 windows.
    assert times[-1] == pytest.approx(180.0)


async def test_concurrency_is_capped_and_reused():
    in_flight = peak = 0
    async with VirtualClock() as clock:
        limiter = VertexRateLimiter(rpm=1000, tpm=10**9, max_concurrency=3, clock=clock)

        async def call() -> None:
            nonlocal in_flight, peak
            async with limiter.limit(1):
                in_flight += 1
                peak = max(peak, in_flight)
                await clock.sleep(5)
                in_flight -= 1

        await asyncio.gather(*(call() for _ in range(9)))
        finished = clock.now()
    assert peak == 3
    assert finished == pytest.approx(15.0)
    assert limiter.in_flight == 0


async def test_tokens_per_minute_hold_and_are_corrected_by_usage():
    async with VirtualClock() as clock:
        limiter = VertexRateLimiter(rpm=100, tpm=1000, max_concurrency=10, clock=clock)
        first = await limiter.acquire(900)
        first.release()
        waiter = asyncio.create_task(limiter.acquire(800))
        await clock.settle()
        assert not waiter.done()  # 900 + 800 > 1000
        first.settle(100)  # the response said it used only 100
        await clock.settle()
        assert waiter.done() and clock.now() == 0.0  # admitted at once after the correction
        second = waiter.result()
        assert limiter.tokens_in_window() == 900
        second.release()


async def test_tokens_wait_for_the_window_when_usage_is_real():
    async with VirtualClock() as clock:
        limiter = VertexRateLimiter(rpm=100, tpm=1000, max_concurrency=10, clock=clock)
        times = await _admit_all(limiter, 4, tokens=400)
    assert times == [0.0, 0.0, 60.0, 60.0]


async def test_a_request_that_can_never_fit_fails_at_once():
    limiter = VertexRateLimiter(rpm=10, tpm=1000, max_concurrency=2)
    with pytest.raises(RequestTooLargeError) as error:
        await limiter.acquire(1001)
    assert error.value.estimated_tokens == 1001 and error.value.tpm == 1000
    assert "1,001" in str(error.value) and "1,000" in str(error.value)
    assert limiter.requests_in_window() == 0
    assert limiter.in_flight == 0 and limiter.tokens_in_window() == 0


async def test_penalty_after_429_holds_back_every_caller():
    async with VirtualClock() as clock:
        limiter = VertexRateLimiter(rpm=100, tpm=10**9, max_concurrency=10, clock=clock)
        limiter.penalize(30)
        times = await _admit_all(limiter, 3)
    assert times == [30.0, 30.0, 30.0]


async def test_penalty_extends_a_wait_already_in_progress():
    async with VirtualClock() as clock:
        limiter = VertexRateLimiter(rpm=1, tpm=10**9, max_concurrency=10, clock=clock)
        (await limiter.acquire(1)).release()
        waiter = asyncio.create_task(limiter.acquire(1))
        await clock.settle()
        limiter.penalize(90)
        reservation = await waiter
        reservation.release()
        assert clock.now() == pytest.approx(90.0)


async def test_cancelling_a_waiting_caller_releases_everything():
    async with VirtualClock() as clock:
        limiter = VertexRateLimiter(rpm=100, tpm=10**9, max_concurrency=1, clock=clock)
        holder = await limiter.acquire(1)
        waiting = asyncio.create_task(limiter.acquire(1))
        await clock.settle()
        assert limiter.waiting == 1
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert limiter.waiting == 0
        holder.release()
        assert limiter.in_flight == 0
        # The slot is really free: the next caller gets it immediately.
        (await asyncio.wait_for(limiter.acquire(1), PROMPTLY)).release()


async def test_cancelling_a_caller_waiting_for_the_window_frees_its_slot():
    async with VirtualClock() as clock:
        limiter = VertexRateLimiter(rpm=1, tpm=10**9, max_concurrency=1, clock=clock)
        (await limiter.acquire(1)).release()
        waiting = asyncio.create_task(limiter.acquire(1))
        await clock.settle()
        assert limiter.waiting == 1  # holds the only slot while waiting for the window
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert (limiter.waiting, limiter.in_flight) == (0, 0)
        # The single slot came back: the next caller is admitted when the window opens.
        (await limiter.acquire(1)).release()
        assert clock.now() == pytest.approx(60.0)
        assert limiter.requests_in_window() == 1  # the cancelled caller was never counted


async def test_cancelling_a_running_call_releases_its_slot():
    async with VirtualClock() as clock:
        limiter = VertexRateLimiter(rpm=100, tpm=10**9, max_concurrency=1, clock=clock)

        async def long_call() -> None:
            async with limiter.limit(1):
                await clock.sleep(1000)

        task = asyncio.create_task(long_call())
        await clock.settle()
        assert limiter.in_flight == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert limiter.in_flight == 0


async def test_many_concurrent_callers_respect_all_limits_at_once():
    active = peak = 0
    admitted: list[float] = []
    async with VirtualClock() as clock:
        limiter = VertexRateLimiter(rpm=40, tpm=4000, max_concurrency=7, clock=clock)

        async def call(i: int) -> None:
            nonlocal active, peak
            async with limiter.limit(50 + i % 50) as reservation:
                admitted.append(clock.now())
                active += 1
                peak = max(peak, active)
                await clock.sleep(0.5 + (i % 5))
                reservation.settle(60)
                active -= 1

        await asyncio.gather(*(call(i) for i in range(200)))
    admitted.sort()
    assert peak <= 7
    for i in range(len(admitted) - 40):
        assert admitted[i + 40] - admitted[i] >= 60.0
    # 200 requests at 40/min need 4 windows after the first; each window may
    # stretch by the longest call (4.5 s), since a call counts until answered.
    assert admitted[-1] <= 4 * (60.0 + 4.5) + 15


async def test_a_request_in_flight_counts_until_the_server_answers():
    async with VirtualClock() as clock:
        limiter = VertexRateLimiter(rpm=2, tpm=10**9, max_concurrency=10, clock=clock)
        first = await limiter.acquire(1)
        second = await limiter.acquire(1)
        third = asyncio.create_task(limiter.acquire(1))
        await clock.sleep(100)  # both might still reach the server at any moment
        assert not third.done()
        first.confirm()  # the server answered the first one at t=100
        await clock.settle()
        assert not third.done()  # it counts from its answer: until t=160
        reservation = await third
        assert clock.now() == pytest.approx(160.0)
        for held in (first, second, reservation):
            held.release()


async def test_headroom_is_what_could_be_admitted_at_once():
    async with VirtualClock() as clock:
        limiter = VertexRateLimiter(rpm=5, tpm=10**9, max_concurrency=3, clock=clock)
        assert limiter.headroom() == 3  # concurrency is the tighter bound
        held = [await limiter.acquire(1) for _ in range(2)]
        assert limiter.headroom() == 1
        for reservation in held:
            reservation.release()
        assert limiter.headroom() == 3  # 2 of 5 used in the window, 3 slots free
        (await limiter.acquire(1)).release()
        (await limiter.acquire(1)).release()
        assert limiter.headroom() == 1
        limiter.penalize(10)
        assert limiter.headroom() == 0
        await clock.sleep(61)
        assert limiter.headroom() == 3


def test_invalid_limits_are_named():
    with pytest.raises(ValueError, match="rpm=0"):
        VertexRateLimiter(rpm=0)
    with pytest.raises(ValueError, match="max_concurrency=-2"):
        VertexRateLimiter(max_concurrency=-2)


async def test_lowered_limits_hold_for_new_calls():
    in_flight = peak = 0
    async with VirtualClock() as clock:
        limiter = VertexRateLimiter(rpm=1000, tpm=10**9, max_concurrency=4, clock=clock)
        assert limiter.set_limits(rpm=1000, max_concurrency=4) is False  # nothing changed
        assert limiter.set_limits(rpm=5, max_concurrency=2) is True
        assert (limiter.rpm, limiter.max_concurrency) == (5, 2)

        async def one() -> None:
            nonlocal in_flight, peak
            async with limiter.limit(1):
                in_flight += 1
                peak = max(peak, in_flight)
                await clock.sleep(1.0)
                in_flight -= 1

        await asyncio.gather(*(one() for _ in range(6)))
    assert peak == 2
    assert clock.now() >= 60.0  # 6 calls at 5 per minute need a second window
    with pytest.raises(ValueError, match="rpm=0"):
        limiter.set_limits(rpm=0)


async def test_raised_limits_let_waiting_calls_go():
    """Raised above what the limiter was built with, even while calls wait for a slot."""
    in_flight = peak = 0
    async with VirtualClock() as clock:
        limiter = VertexRateLimiter(rpm=1000, tpm=10**9, max_concurrency=2, clock=clock)

        async def one() -> None:
            nonlocal in_flight, peak
            async with limiter.limit(1):
                in_flight += 1
                peak = max(peak, in_flight)
                await clock.sleep(10.0)
                in_flight -= 1

        calls = [asyncio.ensure_future(one()) for _ in range(6)]
        await clock.sleep(1.0)
        assert (in_flight, limiter.waiting) == (2, 4)
        assert limiter.set_limits(max_concurrency=6) is True
        await clock.sleep(1.0)
        assert in_flight == 6  # the four waiting calls went at once, not after the first two
        await asyncio.gather(*calls)
    assert peak == 6
