"""What several editor sessions in one process may share: clients, limiters, memo, caches.

One ``GreyCloudLanguageServer`` is one editor session (documents, settings,
progress tokens, workspace folders, running generations, cancel hooks). A
`SharedState` holds what does not belong to a session:

* async clients (`SharedClients`): one per connection, identity and request
  defaults (`client_key`); sessions with the same ones share it, and a client
  no session uses any more is closed;
* rate limiters: ONE per Vertex AI quota, keyed by `quota_key` =
  (project, location, base model). Every client of that quota uses it. When
  sessions ask for different ``rpm`` / ``tpm`` / ``maxConcurrency`` on one
  quota, the smallest of each holds (`quota_notice` says so) while the
  session asking for it is there with those settings;
* the token-count memo (`TokenMemo`): identical text is counted once;
* the workspace-cache registry (`SharedCaches`, ``shared_caches.py``):
  sessions hold references to caches; a cache marked for deletion on exit is
  deleted when the last session holding it leaves (or when the shared state
  closes). A daemon saves it for
  the next daemon, which gives each cache back to its windows when they replay;
* background work (`BackgroundWork`): what outlives the session that caused
  it (remote cache deletes, closing unused clients).

A session that leaves calls `SharedState.release`: its limits, cache holds and
clients are released at once, on the spot; the remote deletes that follow run
in the background, so a busy quota never keeps a closed window's limits.

This module imports nothing of the server or of its feature modules.
"""

from __future__ import annotations

import contextlib
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Hashable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from greycloud.quota_status import quota_json
from greycloud.quotas import QuotaKey, quota_key
from greycloud_lsp.background_work import BackgroundWork
from greycloud_lsp.shared_caches import SharedCaches
from greycloud_lsp.shared_clients import SharedClients

if TYPE_CHECKING:
    from greycloud.async_client import GreyCloudAsyncClient
    from greycloud.config import GreyCloudConfig
    from greycloud.rate_limiter import VertexRateLimiter

log = logging.getLogger(__name__)

TOKEN_MEMO_SIZE = 4096
BACKGROUND_JOIN_SECONDS = 2.0
"""How long closing the shared state waits for background work (cache deletes)."""
# Connection fields the embedded emulator overrides in ``--emulator`` mode.
EMULATOR_LOCKED = ("project_id", "location", "endpoint", "use_api_key", "api_key_file", "sa_email")
# Session variables that would take a session away from the emulator.
API_KEY_VARIABLES = ("GREYCLOUD_USE_API_KEY", "GREYCLOUD_API_KEY", "GOOGLE_API_KEY")


Limits = tuple[int, int, int]
"""(rpm, tpm, maxConcurrency) asked for one quota."""


def _asked(config: GreyCloudConfig) -> Limits:
    """The limits ``config`` asks for, with the library's defaults filled in."""
    from greycloud.rate_limiter import config_limits

    return config_limits(config)


@dataclass
class _Quota:
    limiter: VertexRateLimiter
    requested: dict[Hashable, Limits] = field(default_factory=dict)
    """What each holder (an editor session) asks for; the smallest of each holds."""

    def retune(self) -> None:
        """Put the smallest of each limit the holders ask for in force (up or down)."""
        if not self.requested:
            return  # nobody left: the limits stay until the next holder asks
        rpm, tpm, concurrency = (min(v) for v in zip(*self.requested.values(), strict=True))
        if self.limiter.set_limits(rpm=rpm, tpm=tpm, max_concurrency=concurrency):
            log.info("quota limits now rpm=%s tpm=%s maxConcurrency=%s", rpm, tpm, concurrency)


class TokenMemo:
    """Token counts by (source, model, content digest); least recently used dropped first."""

    def __init__(self, size: int = TOKEN_MEMO_SIZE) -> None:
        self.size = size
        self._counts: OrderedDict[tuple[str, str, str], int] = OrderedDict()

    def get(self, key: tuple[str, str, str]) -> int | None:
        count = self._counts.get(key)
        if count is not None:
            self._counts.move_to_end(key)
        return count

    def put(self, key: tuple[str, str, str], count: int) -> None:
        self._counts[key] = count
        self._counts.move_to_end(key)
        while len(self._counts) > self.size:
            self._counts.popitem(last=False)

    def __len__(self) -> int:
        return len(self._counts)


class SharedState:
    """Everything several editor sessions in one process may share."""

    def __init__(
        self,
        *,
        emulator_url: str | None = None,
        emulator_environ: Mapping[str, str] | None = None,
    ) -> None:
        self.emulator_url = emulator_url
        """Set in ``--emulator`` mode: every session uses this emulator."""
        self.emulator_environ = dict(emulator_environ or {})
        """The variables pointing at the emulator (``EmulatorServer.start_default_credentials``)."""
        self.token_memo = TokenMemo()
        self.background = BackgroundWork()
        self.caches = SharedCaches(self.background)
        self._clients = SharedClients(self.background)
        self._quotas: dict[QuotaKey, _Quota] = {}
        self._closed = False

    # -- quotas and clients -------------------------------------------------------

    def limiter_for(self, config: GreyCloudConfig, *, holder: Hashable = None) -> VertexRateLimiter:
        """THE limiter of ``config``'s quota (`quota_key`), with ``holder``'s request noted."""
        quota = self._quota(config)
        quota.requested[holder] = _asked(config)
        quota.retune()
        return quota.limiter

    def _quota(self, config: GreyCloudConfig) -> _Quota:
        from greycloud.rate_limiter import VertexRateLimiter

        key = quota_key(config)
        quota = self._quotas.get(key)
        if quota is None:
            asked = _asked(config)
            limiter = VertexRateLimiter.from_config(  # shared through Redis with quotaUrl
                config, rpm=asked[0], tpm=asked[1], max_concurrency=asked[2], key=key
            )
            quota = self._quotas[key] = _Quota(limiter)
            log.info("quota %s: rpm=%s tpm=%s maxConcurrency=%s", key, *asked)
        return quota

    def request_limits(self, config: GreyCloudConfig, *, holder: Hashable) -> None:
        """``holder``'s settings changed: its request on ``config``'s quota, if in use."""
        quota = self._quotas.get(quota_key(config))
        if quota is not None:
            quota.requested[holder] = _asked(config)
            quota.retune()

    def release_limits(self, holder: Hashable) -> None:
        """``holder`` leaves (or changed its settings): drop its requests; limits may rise."""
        for quota in self._quotas.values():
            if quota.requested.pop(holder, None) is not None:
                quota.retune()

    def quota_notice(self, config: GreyCloudConfig) -> str | None:
        """Why ``config``'s rpm/tpm/maxConcurrency are not all in force, or None."""
        quota = self._quotas.get(quota_key(config))
        if quota is None:
            return None
        limiter = quota.limiter
        asked = dict(zip(("rpm", "tpm", "maxConcurrency"), _asked(config), strict=True))
        held = {"rpm": limiter.rpm, "tpm": limiter.tpm, "maxConcurrency": limiter.max_concurrency}
        lower = [
            f"{name}={held[name]} (you asked {asked[name]})"
            for name in asked
            if held[name] < asked[name]
        ]
        if not lower:
            return None
        project, location, model = quota_key(config)
        return (
            f"GreyCloud: another editor session shares the quota of {model} in {project}/"
            f"{location} and asked for less, so the smallest limits hold: {', '.join(lower)}."
        )

    def client_for(
        self, config: GreyCloudConfig, *, holder: Hashable = None
    ) -> GreyCloudAsyncClient:
        """The async client for ``config`` (one per distinct config), on its quota's limiter.

        ``holder`` (a session) asks for ``config``'s limits on that quota and
        uses the client until it calls `release`.
        """
        limiter = self.limiter_for(config, holder=holder)
        return self._clients.use(config, holder, limiter)

    @contextlib.asynccontextmanager
    async def borrowed_client(self, config: GreyCloudConfig) -> AsyncIterator[GreyCloudAsyncClient]:
        """The client for ``config`` for background work: within the limits in force,
        asking for none, released (and closed if nobody else uses it) afterwards."""
        user = object()
        client = self._clients.use(config, user, self._quota(config).limiter)
        try:
            yield client
        finally:
            self._clients.release(user)

    def release(self, holder: Hashable) -> None:
        """``holder`` (a session) leaves, at once: its limits (they may rise), its cache
        holds (deletes start in the background) and its clients (closed if unused)."""
        self.release_limits(holder)
        self.caches.release_all(holder)
        self._clients.release(holder)

    def environ_for(self, environ: Mapping[str, str]) -> Mapping[str, str]:
        """A session's environment, pointed at the emulator in emulator mode."""
        if self.emulator_url is None:
            return environ
        merged = {k: v for k, v in environ.items() if k not in API_KEY_VARIABLES}
        merged.update(
            self.emulator_environ
            or {
                "GREYCLOUD_ENDPOINT": self.emulator_url,
                "GREYCLOUD_IAM_ENDPOINT": self.emulator_url,
            }
        )
        return merged

    def lock_connection(self, overrides: dict[str, Any]) -> dict[str, Any]:
        """``overrides`` without connection keys in emulator mode (the emulator wins)."""
        if self.emulator_url is None:
            return overrides
        return {k: v for k, v in overrides.items() if k not in EMULATOR_LOCKED}

    # -- status and teardown -------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Quotas in use (`greycloud.quota_status.quota_json` each), clients and caches held."""
        return {
            "quotas": [quota_json(key, q.limiter.status()) for key, q in self._quotas.items()],
            "clients": len(self._clients),
            "tokenMemo": len(self.token_memo),
            "caches": self.caches.status(),
            "limitHolders": len({h for q in self._quotas.values() for h in q.requested}),
            "backgroundJobs": len(self.background),
        }

    async def aclose(self, timeout: float = BACKGROUND_JOIN_SECONDS) -> None:
        """Delete caches marked for deletion on exit and finish background work (up to
        ``timeout`` seconds), then close every client."""
        if self._closed:
            return
        self._closed = True
        await self.caches.aclose()
        await self.background.join(timeout)
        await self._clients.aclose()
        for quota in list(self._quotas.values()):
            try:
                await quota.limiter.aclose()  # a shared quota's Redis connection
            except Exception as exc:
                log.debug("closing limiter: %s", exc)
