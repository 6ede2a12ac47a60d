"""`RedisQuota`: the state of one Vertex AI quota shared through Redis.

Plugged into `VertexRateLimiter` (``quota_url="redis://..."``), it makes every
process and machine using the same Redis and the same quota key (project,
location, model) keep the limits together: requests per window (in-flight
requests count until answered), tokens per window corrected by the reported
usage, requests in flight (leases that lapse if a process dies without
releasing them), and the slow-down after a 429. All decisions run as Lua
scripts on the Redis server, on its clock (``TIME``).

When Redis does not answer within ``timeout`` the limiter falls back to
limiting this process alone to ``fallback_share`` of the quota (default: all of
it) and rejoins the shared state when it answers: what the process admitted
meanwhile (or, if Redis lost its data, everything still in the window) is
written back first. During a failover on Redis Cluster or Sentinel admissions
wait instead, for up to ``failover_timeout`` (see `greycloud.quota_health`);
then every script call is repeated (each is idempotent: a request id is
admitted once) and the process writes back its admissions still in the window
(replication is asynchronous: the new master may lack the last writes).

The quota URL is read by :mod:`greycloud.quota_url`, the client for its
topology is built by :mod:`greycloud.quota_client`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from greycloud._quota_lua import ACQUIRE, STATUS, UPDATE, quota_keys, update_ops
from greycloud.quota_client import MASTER_CHECK_SECONDS, check_master, connect, error_types, master
from greycloud.quota_health import FAILOVER_RETRY, QuotaHealth
from greycloud.quota_status import QuotaStatus
from greycloud.quota_url import QuotaOptions, redact_url

logger = logging.getLogger("greycloud.quota")

POLL_SECONDS = 0.05
"""How often a waiter asks again while every slot is taken (it waits for an answer)."""
LONGEST_SLEEP = 0.5
"""A waiter asks again at least this often (others may free room or give up)..."""
LONGEST_EXACT_SLEEP = 5.0
"""...unless Redis says no room comes sooner (requests leave the window on a known
schedule): then it sleeps until then, ignoring this process's answers, up to this
long (a waiter ahead may give up, or `VertexRateLimiter.set_limits` raise a limit)."""
MAX_OUTBOX = 10_000
"""Updates kept for Redis while it does not answer (oldest dropped first)."""
KEEP_SECONDS = 600.0
"""Idle quota state stays in Redis this long past the window and leases."""


@dataclass
class Snapshot:
    """The shared state as the last script saw it (for the limiter's sync getters)."""

    requests: int = 0
    in_flight: int = 0
    tokens: int = 0
    blocked_until: float = 0.0  # on time.monotonic()
    taken: float = float("-inf")  # when (time.monotonic())


class RedisQuota:
    """One quota's shared state in Redis. Use through `VertexRateLimiter(shared=...)`."""

    def __init__(self, url: str, key: Iterable[str]) -> None:
        self.options = QuotaOptions.parse(url)
        try:
            import redis  # noqa: F401
        except ImportError:
            raise ImportError(
                "quota_url needs the redis package: pip install redis (GreyCloud's shared-quota "
                'extra: pip install -e ".[shared-quota]" in a clone).'
            ) from None
        self.url = redact_url(url)
        self.keys = quota_keys(self.options.prefix, key)
        self.snapshot = Snapshot()
        self.health = QuotaHealth(self.options, self.url)
        self._epoch = ""
        self._reseed_due = False  # write this process's admissions back (new master)
        self._master: str | None = None  # host:port that answered last (cluster, Sentinel)
        self._master_checked = float("-inf")
        self._history: Callable[[], Iterable[Any]] | None = None
        self._closables: list[Any] = []
        self._client: Any = None
        self._scripts: dict[str, Any] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._outbox: list[tuple[str, str, str, str, float]] = []  # op, id, a, b, posted
        self._wake_worker: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        self._held: dict[str, Any] = {}  # request id -> admission (leases to renew)
        self.period = 60.0

    # -- connection ------------------------------------------------------

    def _redis(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client, self._closables = connect(self.options)
            self._scripts = {
                "acquire": self._client.register_script(ACQUIRE),
                "update": self._client.register_script(UPDATE),
            }
            self._loop = loop
            self._worker = None
        return self._client

    async def _run(self, script: str, args: list[Any]) -> list[Any]:
        self._redis()
        if time.monotonic() - self._master_checked >= MASTER_CHECK_SECONDS:
            self._master_checked = time.monotonic()
            await check_master(self._client, self.options)
        call = asyncio.ensure_future(self._scripts[script](keys=self.keys, args=args))
        call.add_done_callback(_retrieve)  # a call abandoned on timeout fails silently
        reply = await asyncio.wait_for(call, self.options.timeout)
        serving = master(self._client, self.options, self.keys[0])
        if serving != self._master:
            if self._master is not None and serving is not None:
                logger.info("Shared quota at %s: the master is now %s.", self.url, serving)
                self._reseed_due = True  # it may lack what the old master had not replicated
                self._ensure_worker()
            self._master = serving or self._master
        self.health.answered()
        return [int(x) if isinstance(x, int) else x.decode() for x in reply]

    def _header(self) -> list[Any]:
        keep = 2 * (self.period + self.options.lease_seconds) + KEEP_SECONDS
        return [self.period, int(keep * 1000), uuid.uuid4().hex]

    def _absorb(self, status: list[Any]) -> str:
        requests, in_flight, tokens, blocked_ms, epoch = status[-5:]
        now = time.monotonic()
        self.snapshot = Snapshot(requests, in_flight, tokens, now + blocked_ms / 1000, now)
        return str(epoch)

    @property
    def healthy(self) -> bool:
        """Whether Redis answers (else this process limits itself alone)."""
        return self.health.healthy

    def retry_in(self) -> float:
        """Seconds until Redis, unreachable, may be asked again (0 when it answers)."""
        return self.health.retry_in()

    async def probe(self) -> None:
        """While Redis is unreachable, ask it again when that is due; rejoin if it answers.

        Lets a caller waiting for more than this process's fallback share get the
        whole quota back without an admission of its own to notice Redis returned.
        """
        if not self.health.available() or self.healthy:
            return
        try:
            self._absorb(await self._run("update", self._header()))
        except error_types() as exc:
            self.health.failed(exc)
            return
        self._reseed_due = True  # rejoining: write back what was admitted meanwhile
        self.health.rejoined()

    def view(self) -> Snapshot:
        """The shared state as last seen, if Redis answers and it is recent (else empty)."""
        if not self.healthy or time.monotonic() - self.snapshot.taken > self.period:
            return Snapshot()
        return self.snapshot

    # -- admission -------------------------------------------------------

    async def admit(
        self,
        admission: Any,
        limits: tuple[int, int, int],
        history: Callable[[], Iterable[Any]],
        local_change: Callable[[], Awaitable[Any]],
    ) -> bool:
        """Wait for room in the shared quota and take it for ``admission``.

        False means Redis is not answering: the caller limits locally.
        ``history`` lists this process's admissions (to re-seed a lost state);
        ``local_change`` returns an awaitable that fires when this process frees room.
        """
        rpm, tpm, concurrency = limits
        self._history = history
        waiter = uuid.uuid4().hex
        request_id = uuid.uuid4().hex
        asked = False
        try:
            while True:
                if not self.health.available():
                    return False
                if not self.healthy:
                    self._reseed_due = True  # rejoining: write back what was admitted meanwhile
                try:
                    asked = True
                    reply = await self._run(
                        "acquire",
                        [
                            *self._header(),
                            "" if self._reseed_due else self._epoch,  # "": re-seed first
                            waiter,
                            self._place_ttl(),
                            request_id,
                            admission.tokens,
                            rpm,
                            tpm,
                            concurrency,
                            self.options.lease_seconds,
                            LONGEST_EXACT_SLEEP,
                        ],
                    )
                    verdict, delay_ms = reply[0], reply[1]
                    epoch = self._absorb(reply)
                    if verdict == -1:
                        await self._seed(epoch, history())
                except error_types() as exc:
                    if self.health.failing_over(exc):
                        self._reseed_due = True  # the new master may lack the last writes
                        await asyncio.sleep(FAILOVER_RETRY)
                        continue  # the same request id: admitted once, whatever was lost
                    self.health.failed(exc)
                    return False
                self.health.rejoined()
                if verdict == -1:
                    continue
                if verdict == 1:
                    asked = False
                    admission.shared_id = request_id
                    self._held[request_id] = admission
                    self._ensure_worker()
                    return True
                if verdict == 2:
                    await asyncio.sleep(min(delay_ms / 1000, LONGEST_EXACT_SLEEP))
                    continue
                pause = POLL_SECONDS if delay_ms < 0 else min(delay_ms / 1000, LONGEST_SLEEP)
                await _first_of(asyncio.sleep(pause), local_change())
        finally:
            if asked:  # not admitted (or the answer was lost): leave the queue, free any slot
                self.post("w", waiter)
                self.post("r", request_id)

    def _place_ttl(self) -> float:
        return max(10 * POLL_SECONDS, 2 * LONGEST_SLEEP + 2 * self.options.timeout)

    async def _seed(self, epoch: str, history: Iterable[Any]) -> None:
        """Write this process's admissions still in the window into a new shared state."""
        ops = self._seed_ops(history)
        if ops:
            # The epoch check makes a concurrent reset of the state visible next time.
            reply = await self._run("update", [*self._header(), *ops])
            self._absorb(reply)
        self._epoch = epoch
        self._reseed_due = False
        self._ensure_worker()

    def _seed_ops(self, history: Iterable[Any]) -> list[Any]:
        """Update ops adding this process's admissions still in the window (idempotent)."""
        ops: list[Any] = []
        now = time.monotonic()
        lease = self.options.lease_seconds
        for admission in history:
            if admission.time is None:
                ops += ["f", admission.shared_id or uuid.uuid4().hex, admission.tokens, lease]
            elif now - admission.time < self.period:
                ops += [
                    "a",
                    admission.shared_id or uuid.uuid4().hex,
                    admission.tokens,
                    now - admission.time,
                ]
            else:
                continue
            admission.shared_id = ops[-3]
            if admission.time is None:
                self._held[admission.shared_id] = admission
        return ops

    # -- updates (fire and forget, in order) -------------------------------

    def post(self, op: str, ident: str, a: Any = "", b: Any = "") -> None:
        """Queue one update for the worker (answer, release, usage, 429, ...)."""
        if op == "r":
            self._held.pop(ident, None)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (interpreter exit): leases lapse on their own
        self._outbox.append((op, ident, str(a), str(b), time.monotonic()))
        self._ensure_worker()

    def _ensure_worker(self) -> None:
        self._redis()
        if self._worker is None or self._worker.done():
            self._wake_worker = asyncio.Event()
            self._worker = asyncio.get_running_loop().create_task(self._work())
        assert self._wake_worker is not None
        self._wake_worker.set()

    async def _work(self) -> None:
        """Send queued updates in batches, in order, and renew the leases this process holds."""
        renew_every = self.options.lease_seconds / 3
        next_renewal = time.monotonic() + renew_every
        wake = self._wake_worker
        assert wake is not None
        while self._outbox or self._held or self._reseeding():
            now = time.monotonic()
            if now >= next_renewal:
                lease = str(self.options.lease_seconds)
                self._outbox += [("h", request_id, lease, "", now) for request_id in self._held]
                next_renewal = now + renew_every
            reseed = self._reseeding()
            if (self._outbox or reseed) and self.health.available():
                batch, self._outbox = self._outbox, []
                try:
                    ops = update_ops(batch, time.monotonic())
                    if reseed and self._history is not None:  # before the answers they concern
                        ops = self._seed_ops(self._history()) + ops
                    self._absorb(await self._run("update", [*self._header(), *ops]))
                    self._reseed_due = self._reseed_due and not reseed
                except error_types() as exc:
                    self._outbox = (batch + self._outbox)[-MAX_OUTBOX:]
                    if self.health.failing_over(exc):
                        self._reseed_due = True  # the new master may lack the last writes
                        await asyncio.sleep(FAILOVER_RETRY)
                    else:
                        self.health.failed(exc)
                continue
            wake.clear()
            until = next_renewal if not self._outbox else min(next_renewal, self.health.retry_at)
            try:
                await asyncio.wait_for(wake.wait(), max(0.0, until - time.monotonic()))
            except asyncio.TimeoutError:
                pass

    async def aclose(self) -> None:
        """Flush pending updates and close the connection."""
        worker = self._worker
        if worker is not None and not worker.done():
            # Queued updates, or a batch already on its way: let the worker finish them
            # (it stops once nothing is queued or held) rather than cancel it mid-send.
            self._held.clear()
            if self._wake_worker is not None:
                self._wake_worker.set()
            try:
                await asyncio.wait_for(worker, self.options.timeout * 2)
            except Exception:  # a timeout or Redis error: the leases lapse
                worker.cancel()
        client, self._client = self._client, None
        if client is not None:
            for closable in [client, *self._closables]:
                await closable.aclose()

    def _reseeding(self) -> bool:
        return self._reseed_due and self.healthy and self._history is not None

    # -- reading (greycloud quota status) ------------------------------------

    async def read_status(self) -> QuotaStatus:
        """This quota's shared state now, read without changing it (limits unknown).

        Raises what Redis raises (or ``TimeoutError``): nothing falls back here.
        """
        script = self._redis().register_script(STATUS)
        reply = await asyncio.wait_for(
            script(keys=self.keys, args=[self.period]), self.options.timeout
        )
        requests, in_flight, tokens, waiting, blocked_ms, waiting_tokens = (int(x) for x in reply)
        return QuotaStatus(
            requests, tokens, in_flight, waiting, waiting_tokens, blocked_ms / 1000, self.period,
            source="redis",
        )  # fmt: skip

    async def known_keys(self) -> list[tuple[str, ...]]:
        """Every quota key with state under this URL's prefix (SCAN: read-only)."""
        head = f"{self.options.prefix}quota:{{"
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", head) + "*}:meta"
        found = set()
        async for raw in self._redis().scan_iter(match=pattern, count=500):
            name = raw.decode() if isinstance(raw, bytes) else str(raw)
            found.add(tuple(name[len(head) : -len("}:meta")].split("/")))
        return sorted(found)


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


async def _first_of(*awaitables: Awaitable[Any]) -> None:
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
