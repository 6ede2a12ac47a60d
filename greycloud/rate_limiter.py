"""`VertexRateLimiter`: requests per minute, tokens per minute and concurrency at once.

Admission is first come, first served. A caller first takes a concurrency
slot, then waits until admitting it keeps both sliding windows within their
limits. The server may receive a request any time between its admission and
its answer (a credential refresh, say, can delay the send), so a request
counts in every window while it is in flight, and from its answer on it
counts at the time of that answer. Hence:

* the server never sees more than ``rpm`` requests in any window of ``period``
  seconds, from the very first one (no burst), and a steady backlog runs at
  the limit less one round trip per window;
* tokens are charged from the caller's estimate at admission and corrected
  with `Reservation.settle_usage` once the response reports its real usage,
  counting what the quota counts (``tpm_counts``: input tokens by default, as
  Vertex AI does; see `greycloud.rules.TPM_COUNTS`);
* a request whose estimate alone exceeds ``tpm`` fails at once with
  `RequestTooLargeError` and takes nothing;
* `penalize` (called after a 429) holds back every caller sharing the limiter;
* cancelling a caller, waiting or running, gives back everything it held.

Time comes from an injectable `Clock`, so tests can run minutes in milliseconds.

With ``shared=RedisQuota(...)`` (see `greycloud.shared_quota`, or build the
limiter with `VertexRateLimiter.from_config` and ``quota_url``) the same rules
hold across every process sharing the quota: a caller is admitted only when
both this process's state and the shared state have room. Shared limiting
needs the real clock.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from greycloud._reservation import Reservation, _Admission
from greycloud._shared_admission import SharedQuotaAdmission
from greycloud.clock import Clock, MonotonicClock
from greycloud.errors import RequestTooLargeError
from greycloud.quota_status import QuotaStatus
from greycloud.rules import DEFAULT_TPM_COUNTS, POSITIVE, tpm_counts_name
from greycloud.shared_quota import RedisQuota

if TYPE_CHECKING:
    from greycloud.config import GreyCloudConfig

__all__ = [
    "DEFAULT_MAX_CONCURRENCY",
    "DEFAULT_RPM",
    "DEFAULT_TPM",
    "Reservation",
    "VertexRateLimiter",
    "config_limits",
]

T = TypeVar("T")

DEFAULT_RPM = 60
DEFAULT_TPM = 250_000
DEFAULT_MAX_CONCURRENCY = 10


def config_limits(config: GreyCloudConfig) -> tuple[int, int, int]:
    """``config``'s (rpm, tpm, max_concurrency), the defaults where it sets none."""
    return (
        config.rpm or DEFAULT_RPM,
        config.tpm or DEFAULT_TPM,
        config.max_concurrency or DEFAULT_MAX_CONCURRENCY,
    )


def _check_limit(name: str, value: object) -> None:
    """A limit is a whole number greater than 0 (`greycloud.rules.POSITIVE`)."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name}={value!r} must be a positive integer.")
    POSITIVE.check(name, value)


class VertexRateLimiter(SharedQuotaAdmission):
    """Keeps callers within a Vertex AI quota without wasting it. See module docs."""

    def __init__(
        self,
        rpm: int = 60,
        tpm: int = 250_000,
        max_concurrency: int = 10,
        *,
        period: float = 60.0,
        clock: Clock | None = None,
        shared: RedisQuota | None = None,
        tpm_counts: str = DEFAULT_TPM_COUNTS,
    ) -> None:
        for name, value in (("rpm", rpm), ("tpm", tpm), ("max_concurrency", max_concurrency)):
            _check_limit(name, value)
        POSITIVE.check("period", period)
        self.rpm = rpm
        self.tpm = tpm
        self.max_concurrency = max_concurrency
        self.period = period
        self.tpm_counts = tpm_counts_name(tpm_counts)
        """What ``tpm`` counts when a call settles (`greycloud.rules.TPM_COUNTS`)."""
        self.clock: Clock = clock or MonotonicClock()
        self._pending: set[_Admission] = set()
        self._answered: deque[_Admission] = deque()  # ordered by answer time
        self._charged = 0
        self._blocked_until = float("-inf")
        self._slots = asyncio.Semaphore(max_concurrency)
        self._slot_capacity = max_concurrency  # permits the semaphore has; a lower limit is
        # kept by `_delay` (set_limits may lower max_concurrency below it)
        self._queue = asyncio.Lock()
        self._changed = asyncio.Event()
        self._waiting = 0
        self._waiting_tokens = 0
        self._held = 0
        self.shared = shared
        if shared is not None:
            shared.period = period

    @classmethod
    def from_config(
        cls,
        config: GreyCloudConfig,
        rpm: int | None = None,
        tpm: int | None = None,
        max_concurrency: int | None = None,
        *,
        key: tuple[str, ...] | None = None,
    ) -> VertexRateLimiter:
        """The limiter for ``config``'s quota: shared through Redis when ``quota_url`` is set.

        Limits come from the arguments, else from the config, else the defaults.
        The shared key is ``key``, by default `greycloud.quotas.quota_key`, under
        the URL's ``prefix``.
        """
        shared = None
        if config.quota_url:
            if key is None:
                from greycloud.quotas import quota_key

                key = quota_key(config)
            shared = RedisQuota(config.quota_url, key)
        config_rpm, config_tpm, config_concurrency = config_limits(config)
        return cls(
            rpm=rpm or config_rpm,
            tpm=tpm or config_tpm,
            max_concurrency=max_concurrency or config_concurrency,
            shared=shared,
            tpm_counts=config.tpm_counts or DEFAULT_TPM_COUNTS,
        )

    # -- public ----------------------------------------------------------

    @property
    def in_flight(self) -> int:
        """Calls admitted and not yet released."""
        return self._held

    @property
    def waiting(self) -> int:
        """Calls queued for admission."""
        return self._waiting

    def tokens_in_window(self) -> int:
        """Tokens charged within the last ``period`` seconds."""
        self._expire(self.clock.now())
        return max(self._charged, self._shared_view().tokens)

    def requests_in_window(self) -> int:
        """Requests in flight plus those answered within the last ``period`` seconds."""
        self._expire(self.clock.now())
        return max(len(self._pending) + len(self._answered), self._shared_view().requests)

    def status(self) -> QuotaStatus:
        """This process's use of the quota now: window, in flight, waiting, limits."""
        now = self.clock.now()
        self._expire(now)
        return QuotaStatus(
            requests=len(self._pending) + len(self._answered),
            tokens=self._charged,
            in_flight=self._held,
            waiting=self._waiting,
            waiting_tokens=self._waiting_tokens,
            blocked_seconds=max(0.0, self._blocked_until - now),
            period=self.period,
            rpm=self.rpm,
            tpm=self.tpm,
            max_concurrency=self.max_concurrency,
            tpm_counts=self.tpm_counts,
        )

    def headroom(self) -> int:
        """Requests that would be admitted at once right now (0 while anyone waits).

        Lets background work (e.g. an editor's live token counts) use only
        spare capacity instead of queueing ahead of a person's request.
        """
        now = self.clock.now()
        view = self._shared_view()
        if self._waiting or self._blocked_until > now or view.blocked_until > time.monotonic():
            return 0
        by_rate = self._in_force(self.rpm) - self.requests_in_window()
        by_slots = self.max_concurrency - max(self._held, view.in_flight)
        return max(0, min(by_rate, by_slots))

    async def acquire(self, estimated_tokens: int) -> Reservation:
        """Wait for admission; the caller must `Reservation.release` when done."""
        estimated_tokens = max(0, int(estimated_tokens))
        if estimated_tokens > self.tpm:
            raise RequestTooLargeError(
                f"This request needs about {estimated_tokens:,} tokens but the limit is "
                f"{self.tpm:,} tokens per minute, so it can never be sent: split the input "
                "or raise tpm.",
                estimated_tokens=estimated_tokens,
                tpm=self.tpm,
            )
        self._waiting += 1
        self._waiting_tokens += estimated_tokens
        try:
            async with self._queue:
                await self._slots.acquire()
                admission = _Admission(estimated_tokens)
                try:
                    await self._wait_for_room(estimated_tokens)
                    while self.shared is not None and not await self._admit_shared(admission):
                        if self._delay(estimated_tokens, self.clock.now()) <= 0:
                            break  # Redis is not answering: this process's share fits
                        await self._wait_for_room(estimated_tokens)
                except BaseException:
                    self._slots.release()
                    raise
                self._held += 1
                self._pending.add(admission)
                self._charged += estimated_tokens
                return Reservation(self, admission)
        finally:
            self._waiting -= 1
            self._waiting_tokens -= estimated_tokens

    async def try_acquire(self, estimated_tokens: int, *, max_wait: float) -> Reservation | None:
        """Admit within ``max_wait`` seconds, else None: for work dropped rather than delayed.

        Never queues ahead of `acquire`: None at once while anyone waits there,
        for a request that can never fit, and when room comes later than
        ``max_wait`` (a slot that only an answer frees counts as never). It
        waits outside the queue, so a caller of `acquire` arriving meanwhile
        goes first. With a shared quota it asks Redis only when the last shared
        view shows room, for at most what is left of ``max_wait``.
        """
        tokens = max(0, int(estimated_tokens))
        if tokens > self.tpm:
            return None
        deadline = self.clock.now() + max(0.0, max_wait)
        while True:
            now = self.clock.now()
            if self._waiting or not self._shared_room(tokens):
                return None
            delay = float("inf") if self._slots.locked() else self._delay(tokens, now)
            if delay > 0:
                if now + delay > deadline:
                    return None
                await self.clock.sleep(delay)
                continue
            await self._slots.acquire()  # free (checked above): returns without waiting
            admission = _Admission(tokens)
            self._held += 1
            self._pending.add(admission)
            self._charged += tokens
            if self.shared is None or await self._try_shared(admission, deadline):
                return Reservation(self, admission)
            return None

    @asynccontextmanager
    async def limit(self, estimated_tokens: int) -> AsyncIterator[Reservation]:
        """``async with limiter.limit(n) as r:`` admits, then releases on exit."""
        reservation = await self.acquire(estimated_tokens)
        try:
            yield reservation
        finally:
            reservation.release()

    async def call_with_limits(self, estimated_tokens: int, func: Callable[[], Awaitable[T]]) -> T:
        """Run ``func()`` once admitted, holding the slot while it runs."""
        async with self.limit(estimated_tokens):
            return await func()

    def set_limits(
        self,
        *,
        rpm: int | None = None,
        tpm: int | None = None,
        max_concurrency: int | None = None,
    ) -> bool:
        """Change any of the limits in place, up or down; True if one changed.

        Lets callers that share one quota agree on limits while it is in use.
        Calls already admitted keep their slots; waiting ones are weighed again.
        """
        changed = False
        for name, value in (("rpm", rpm), ("tpm", tpm), ("max_concurrency", max_concurrency)):
            if value is None:
                continue
            _check_limit(name, value)
            if value != getattr(self, name):
                setattr(self, name, value)
                changed = True
        for _ in range(self.max_concurrency - self._slot_capacity):
            self._slots.release()  # a higher limit than the semaphore was made with
        self._slot_capacity = max(self._slot_capacity, self.max_concurrency)
        if changed:
            self._notify()
        return changed

    def penalize(self, seconds: float) -> None:
        """Hold back every caller for ``seconds`` (after the server answered 429)."""
        until = self.clock.now() + max(0.0, seconds)
        if until > self._blocked_until:
            self._blocked_until = until
            self._notify()
        if self.shared is not None:
            self.shared.post("p", "-", "", max(0.0, seconds))

    async def aclose(self) -> None:
        """Send what the shared quota still needs to know and close its connection
        (and those of the lanes `greycloud.quota_lane.lane_of` made for it)."""
        from greycloud.quota_lane import close_lanes

        await close_lanes(self)
        if self.shared is not None:
            await self.shared.aclose()

    # -- internals -------------------------------------------------------

    def _expire(self, now: float) -> None:
        horizon = now - self.period
        while self._answered and self._answered[0].time <= horizon:  # type: ignore[operator]
            self._charged -= self._answered.popleft().tokens

    def _delay(self, tokens: int, now: float) -> float:
        """Seconds until a request of ``tokens`` fits; ``inf`` = until an answer arrives."""
        self._expire(now)
        if self._held >= self.max_concurrency:  # lowered by `set_limits` below the semaphore
            return float("inf")
        delay = self._blocked_until - now
        must_leave = len(self._pending) + len(self._answered) - self._in_force(self.rpm) + 1
        if must_leave > 0:
            if must_leave > len(self._answered):
                return float("inf")
            leaving = self._answered[must_leave - 1]
            delay = max(delay, leaving.time + self.period - now)  # type: ignore[operator]
        excess = self._charged + tokens - self._in_force(self.tpm)
        if excess > 0:
            for answered in self._answered:
                excess -= answered.tokens
                if excess <= 0:
                    delay = max(delay, answered.time + self.period - now)  # type: ignore[operator]
                    break
            else:
                return float("inf")
        return delay

    async def _wait_for_room(self, tokens: int) -> None:
        while True:
            delay = self._delay(tokens, self.clock.now())
            if delay <= 0:
                return
            unreachable = self.shared is not None and not self.shared.healthy
            if unreachable:  # the fallback share may never fit: look for Redis meanwhile
                delay = min(delay, self.shared.retry_in())  # type: ignore[union-attr]
            changed = self._changed
            waker = asyncio.ensure_future(changed.wait())
            waits: set[asyncio.Future[Any]] = {waker}
            if delay != float("inf"):
                waits.add(asyncio.ensure_future(self.clock.sleep(delay)))
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiting in waits:
                    waiting.cancel()
            if unreachable:
                await self.shared.probe()  # type: ignore[union-attr]

    def _confirm(self, admission: _Admission) -> None:
        if admission in self._pending:
            self._pending.discard(admission)
            admission.time = self.clock.now()
            self._answered.append(admission)
            self._notify()
            if self.shared is not None and admission.shared_id is not None:
                self.shared.post("c", admission.shared_id)

    def _withdraw(self, admission: _Admission) -> None:
        """Forget a call that was never sent: unlike a release, it leaves no trace locally."""
        if admission in self._pending:
            self._pending.discard(admission)
            self._charged -= admission.tokens
            self._release_slot(admission)

    def _release_slot(self, admission: _Admission) -> None:
        self._held -= 1
        self._slots.release()
        if self._held + 1 >= self.max_concurrency:
            self._notify()  # a caller held back by a lowered limit may go
        if self.shared is not None and admission.shared_id is not None:
            self.shared.post("r", admission.shared_id)

    def _recharge(self, admission: _Admission, tokens: int) -> None:
        if admission in self._pending or admission in self._answered:
            self._charged += tokens - admission.tokens
        decreased = tokens < admission.tokens
        shared_id = admission.shared_id
        if self.shared is not None and shared_id is not None and tokens != admission.tokens:
            self.shared.post("s", shared_id, tokens)
        admission.tokens = tokens
        if decreased:
            self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()
