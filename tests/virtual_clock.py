"""A virtual clock for `VertexRateLimiter`: minutes of limiter time in milliseconds.

`VirtualClock.sleep` parks the caller; a driver task jumps time to the
earliest deadline whenever every other task is waiting, so behaviour is the
same as on a real clock, only without the waiting.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools


class VirtualClock:
    """Implements the limiter's `Clock` protocol on virtual time."""

    def __init__(self) -> None:
        self.time = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._driver: asyncio.Task[None] | None = None
        self._paused = 0

    def now(self) -> float:
        return self.time

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.time + max(0.0, seconds), next(self._order), future))
        await future

    async def settle(self) -> None:
        """Let every runnable task reach its next wait without moving time."""
        self._paused += 1
        try:
            for _ in range(100):
                await asyncio.sleep(0)
        finally:
            self._paused -= 1

    async def __aenter__(self) -> VirtualClock:
        self._driver = asyncio.create_task(self._drive())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._driver is not None
        self._driver.cancel()

    async def _drive(self) -> None:
        while True:
            for _ in range(50):  # let every runnable task reach its next wait
                await asyncio.sleep(0)
            if self._paused:
                continue
            while self._sleepers and self._sleepers[0][2].done():
                heapq.heappop(self._sleepers)
            if not self._sleepers:
                await asyncio.sleep(0.0005)
                continue
            deadline, _, future = heapq.heappop(self._sleepers)
            self.time = max(self.time, deadline)
            future.set_result(None)
