"""A lane in a quota: a share of it for work that is dropped rather than queued.

Background work that goes stale in a second (an editor's inline completions)
must neither wait in a quota's queue nor crowd out what a person asked for. A
`QuotaLane` gives it at most ``share`` of a `VertexRateLimiter`'s rpm, tpm and
concurrency: a call is admitted only if both the lane (a limiter of its own
with the share's limits) and the quota itself admit it within ``max_wait``
seconds, through `VertexRateLimiter.try_acquire`, which never queues ahead of
an ordinary caller. Otherwise `LaneFullError` is raised at once: nothing is
sent, so a lane never causes a 429.

The lane of one quota is one limiter per quota limiter (`lane_of`): with
``quota_url`` it is shared through Redis under ``<quota key>/<name>``, so every
process's completions share one lane. Callers asking for different shares
each get at most their own share of the whole lane (the lane's limits are set
from the caller's share at each admission). Closing the quota limiter
(`VertexRateLimiter.aclose`) closes its lanes too.

`LaneLimiter` is what a `GreyCloudAsyncClient` takes as its ``rate_limiter``
so that the library's one generate path runs inside the lane.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from greycloud.errors import GreyCloudError
from greycloud.rate_limiter import Reservation, VertexRateLimiter
from greycloud.rules import NON_NEGATIVE, SHARE

if TYPE_CHECKING:
    from greycloud.config import GreyCloudConfig

_LANES: weakref.WeakKeyDictionary[VertexRateLimiter, dict[str, VertexRateLimiter]] = (
    weakref.WeakKeyDictionary()
)


class LaneFullError(GreyCloudError):
    """The lane (or the quota) has no room within the call's wait budget: nothing was sent."""


def lane_limits(quota: VertexRateLimiter, share: float) -> tuple[int, int, int]:
    """(rpm, tpm, max_concurrency) of ``share`` of ``quota``'s limits (each at least 1)."""
    return (
        max(1, math.floor(quota.rpm * share)),
        max(1, math.floor(quota.tpm * share)),
        max(1, math.floor(quota.max_concurrency * share)),
    )


def lane_of(
    quota: VertexRateLimiter, config: GreyCloudConfig, name: str = "completion"
) -> VertexRateLimiter:
    """THE lane ``name`` of ``quota`` (made on first use; shared through Redis like it).

    ``config`` names the quota (its ``quota_url`` and `greycloud.quotas.quota_key`).
    """
    lanes = _LANES.setdefault(quota, {})
    lane = lanes.get(name)
    if lane is None:
        shared = None
        if quota.shared is not None and config.quota_url:
            from greycloud.quotas import quota_key
            from greycloud.shared_quota import RedisQuota

            project, location, model = quota_key(config)
            shared = RedisQuota(config.quota_url, (project, location, f"{model}/{name}"))
        rpm, tpm, concurrency = lane_limits(quota, 1.0)
        lane = lanes[name] = VertexRateLimiter(
            rpm,
            tpm,
            concurrency,
            period=quota.period,
            clock=quota.clock,
            shared=shared,
            tpm_counts=quota.tpm_counts,  # its tpm is a share of the quota's: count alike
        )
    return lane


async def close_lanes(quota: VertexRateLimiter) -> None:
    """Close the lanes `lane_of` made for ``quota`` (their Redis connections); a later
    `lane_of` makes new ones. `VertexRateLimiter.aclose` calls this."""
    for lane in _LANES.pop(quota, {}).values():
        await lane.aclose()


class LaneReservation:
    """A call admitted by both the lane and the quota: settles and releases both."""

    def __init__(self, lane: Reservation, quota: Reservation) -> None:
        self._both = (lane, quota)

    @property
    def tokens(self) -> int:
        return self._both[1].tokens

    def confirm(self) -> None:
        for reservation in self._both:
            reservation.confirm()

    def settle(self, actual_tokens: int) -> None:
        for reservation in self._both:
            reservation.settle(actual_tokens)

    def settle_usage(self, usage: Any) -> None:
        """Settle both with what their quota counts of a response's ``usage_metadata``."""
        for reservation in self._both:
            reservation.settle_usage(usage)

    def release(self) -> None:
        for reservation in self._both:
            reservation.release()


class LaneLimiter:
    """A client's limiter that admits in ``quota``'s lane within ``max_wait``, else raises.

    Pass it as ``GreyCloudAsyncClient(config, rate_limiter=LaneLimiter(...))``:
    the client's calls then take at most ``share`` of the quota and raise
    `LaneFullError` instead of waiting. A 429 still slows the whole quota down.
    """

    def __init__(
        self,
        quota: VertexRateLimiter,
        lane: VertexRateLimiter,
        *,
        share: float,
        max_wait: float,
        on_admit: Callable[[], None] | None = None,
    ) -> None:
        SHARE.check("share", share)
        NON_NEGATIVE.check("max_wait", max_wait)
        self.quota = quota
        self.lane = lane
        self.share = share
        self.max_wait = max_wait
        self.on_admit = on_admit
        """Called for each call admitted (it is sent next): e.g. to count model calls."""

    @property
    def tpm(self) -> int:
        """Tokens per minute this lane may use (a request must fit: embeddings batch by it)."""
        return lane_limits(self.quota, self.share)[1]

    async def acquire(self, estimated_tokens: int) -> LaneReservation:
        """Admit in the lane and the quota, or raise `LaneFullError` (nothing held)."""
        rpm, tpm, concurrency = lane_limits(self.quota, self.share)
        self.lane.set_limits(rpm=rpm, tpm=tpm, max_concurrency=concurrency)
        clock = self.quota.clock
        deadline = clock.now() + self.max_wait
        lane = await self.lane.try_acquire(estimated_tokens, max_wait=self.max_wait)
        if lane is None:
            raise LaneFullError("the completion lane has no room within its wait budget")
        try:
            left = max(0.0, deadline - clock.now())
            quota = await self.quota.try_acquire(estimated_tokens, max_wait=left)
        except BaseException:
            lane.withdraw()
            raise
        if quota is None:
            lane.withdraw()
            raise LaneFullError("the quota has no spare room within the completion's budget")
        if self.on_admit is not None:
            self.on_admit()
        return LaneReservation(lane, quota)

    @asynccontextmanager
    async def limit(self, estimated_tokens: int) -> AsyncIterator[LaneReservation]:
        """``async with lane.limit(n) as r:`` admits (or raises), then releases on exit."""
        reservation = await self.acquire(estimated_tokens)
        try:
            yield reservation
        finally:
            reservation.release()

    def penalize(self, seconds: float) -> None:
        """A 429 holds back every caller of the quota (and so the lane)."""
        self.quota.penalize(seconds)

    async def aclose(self) -> None:
        """Nothing of its own to close: the lane and quota limiters outlive it."""
