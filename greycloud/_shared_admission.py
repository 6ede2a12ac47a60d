"""The limiter's side of a quota shared through Redis (see `greycloud.shared_quota`).

Mixed into `greycloud.rate_limiter.VertexRateLimiter`, which owns the local
admission; these methods ask and read the shared state, and shrink the limits
to this process's fallback share while Redis is unreachable.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import TYPE_CHECKING

from greycloud._reservation import _Admission
from greycloud.clock import Clock
from greycloud.shared_quota import RedisQuota, Snapshot


class SharedQuotaAdmission:
    """Shared-quota glue of `VertexRateLimiter` (state lives on the limiter)."""

    rpm: int
    tpm: int
    max_concurrency: int
    clock: Clock
    shared: RedisQuota | None
    _pending: set[_Admission]
    _answered: deque[_Admission]
    _changed: asyncio.Event

    if TYPE_CHECKING:

        def _withdraw(self, admission: _Admission) -> None: ...

    def _shared_room(self, tokens: int) -> bool:
        """Whether the last shared view leaves room for one more request of ``tokens``."""
        view = self._shared_view()
        if view.blocked_until > time.monotonic():
            return False
        return (
            view.requests < self.rpm
            and view.in_flight < self.max_concurrency
            and view.tokens + tokens <= self.tpm
        )

    async def _try_shared(self, admission: _Admission, deadline: float) -> bool:
        """Ask the shared quota for ``admission`` until ``deadline``; True if it may go."""
        try:
            wait = max(0.001, deadline - self.clock.now())
            await asyncio.wait_for(self._admit_shared(admission), wait)
            return True  # admitted, or Redis is not answering and this process had room
        except BaseException as exc:
            self._withdraw(admission)
            if isinstance(exc, asyncio.TimeoutError):
                return False
            raise

    def _in_force(self, limit: int) -> int:
        """``limit``, or this process's share of it while the shared quota is unreachable."""
        if self.shared is None or self.shared.healthy:
            return limit
        return max(1, int(limit * self.shared.options.fallback_share))

    def _shared_view(self) -> Snapshot:
        return Snapshot() if self.shared is None else self.shared.view()

    async def _admit_shared(self, admission: _Admission) -> bool:
        assert self.shared is not None
        limits = (self.rpm, self.tpm, self.max_concurrency)
        return await self.shared.admit(
            admission,
            limits,
            lambda: [a for a in (*self._pending, *self._answered) if a is not admission],
            lambda: self._changed.wait(),
        )
