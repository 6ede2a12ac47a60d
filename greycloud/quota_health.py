"""Whether a shared quota's Redis can be used now, and what is logged about it.

A script call that fails means one of two things (`greycloud.quota_client.kind`):

* Redis is away, refuses the login or cannot hold the quota (a cluster node or a
  replica behind a plain URL): **fail open**. The limiter limits this process
  alone to ``fallback_share`` of the quota, Redis is asked again every
  `RETRY_SECONDS`, and one warning is logged per outage (at most one per
  `WARN_EVERY`, the rest at INFO).
* On Redis Cluster or Sentinel, another master is taking over: **fail closed for
  a while**. Callers wait, asking again every `FAILOVER_RETRY` seconds, for up to
  ``failover_timeout``; only then does the process fail open as above.

Every message names the URL without its password (`greycloud.quota_client.explain`).
"""

from __future__ import annotations

import logging
import time

from greycloud.quota_client import explain, kind
from greycloud.quota_url import QuotaOptions

logger = logging.getLogger("greycloud.quota")

RETRY_SECONDS = 1.0
FAILOVER_RETRY = 0.1
"""How often a call is repeated while a cluster or Sentinel elects a new master."""
WARN_EVERY = 600.0
"""One warning per outage, and at most one per this many seconds (the rest at INFO)."""


class QuotaHealth:
    """The shared quota's state of health: shared, failing over, or limited locally."""

    def __init__(self, options: QuotaOptions, url: str) -> None:
        self.options = options
        self.url = url  # without its password
        self.healthy = True
        self.retry_at = 0.0
        self._warned_at = float("-inf")
        self._failover_since: float | None = None

    def available(self) -> bool:
        """Whether Redis may be asked now (it answers, or asking again is due)."""
        return self.healthy or time.monotonic() >= self.retry_at

    def retry_in(self) -> float:
        """Seconds until Redis, unreachable, may be asked again (0 when it answers)."""
        return 0.0 if self.healthy else max(0.0, self.retry_at - time.monotonic())

    def answered(self) -> None:
        """A call went through: a failover, if one was under way, is over."""
        if self._failover_since is not None:
            logger.info(
                "Shared quota at %s answers again after %.1f s of failover; limits stay shared.",
                self.url,
                time.monotonic() - self._failover_since,
            )
            self._failover_since = None

    def rejoined(self) -> None:
        """Redis answers again after an outage: limits are shared again."""
        if not self.healthy:
            self.healthy = True
            logger.info("Shared quota at %s answers again; limits are shared.", self.url)

    def failing_over(self, exc: BaseException) -> bool:
        """True while ``exc`` means a failover still worth waiting for (logged once)."""
        if not self.healthy or kind(exc, self.options) != "failover":
            return False
        now = time.monotonic()
        if self._failover_since is None:
            self._failover_since = now
            logger.warning(
                "Shared quota at %s: the Redis master is failing over (%s); admissions wait "
                "for the new master, up to %g s (failover_timeout), and no request is lost.",
                self.url,
                explain(exc, self.options, self.url),
                self.options.failover_timeout,
            )
        return now - self._failover_since < self.options.failover_timeout

    def failed(self, exc: BaseException) -> None:
        """Redis cannot be used: limit this process alone until it can (logged once)."""
        self.retry_at = time.monotonic() + RETRY_SECONDS
        since, self._failover_since = self._failover_since, None
        if not self.healthy:
            return
        self.healthy = False
        now = time.monotonic()
        level = logging.WARNING if now - self._warned_at >= WARN_EVERY else logging.INFO
        self._warned_at = now if level == logging.WARNING else self._warned_at
        misrouted = kind(exc, self.options) in ("moved", "replica")
        detail = explain(exc, self.options, self.url)
        if since is not None:
            detail += f"; no new master after {now - since:.1f} s (failover_timeout)"
        logger.log(
            level,
            "Shared quota at %s %s (%s); limiting this process alone to %d%% of the quota "
            "until %s.",
            self.url,
            "cannot hold the quota" if misrouted else "is not answering",
            detail,
            round(self.options.fallback_share * 100),
            "quota_url is fixed" if misrouted else "it does",
        )
