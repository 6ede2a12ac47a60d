"""Workspace caches across daemons: what a record holds, taking records over, orphans.

A daemon saves its cache registry (``SharedCaches.records``) in its runtime
directory (``daemon/cache_file.py``). The next daemon `restore`\\ s it: each
unexpired cache waits for the windows that held it; a window's session takes
its caches back when its forwarder replays (``CacheRegistry.adopt``). Caches
whose windows are gone (forwarder dead at start, or not back within
`ADOPTION_GRACE_SECONDS`) are deleted if they were ``deleteOnExit``, with the
connection recorded when they were made (`connection_of`: no API key, no
Redis URL is recorded, so such a cache made with an API key from the
environment is left to expire).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from greycloud_lsp.common.processes import pid_alive
from greycloud_lsp.features.workspace_cache.owned_cache import OwnedCache
from greycloud_lsp.wire.handshake import session_environment

if TYPE_CHECKING:
    from greycloud_lsp.language_server import GreyCloudLanguageServer
    from greycloud_lsp.shared_state import SharedState

log = logging.getLogger(__name__)

ADOPTION_GRACE_SECONDS = 30.0
"""How long a new daemon keeps a cache for a window whose forwarder still runs."""
CHECK_SECONDS = 1.0
CONNECTION_FIELDS = (
    "project_id",
    "location",
    "endpoint",
    "use_api_key",
    "api_key_file",
    "sa_email",
    "iam_endpoint",
)
SECRET_VARIABLES = frozenset({"GREYCLOUD_API_KEY", "GOOGLE_API_KEY", "GREYCLOUD_QUOTA_URL"})


def connection_of(ls: GreyCloudLanguageServer) -> dict[str, Any]:
    """How ``ls`` reaches Vertex AI, without secrets: enough to delete its cache later."""
    config = ls.config
    environ = session_environment(ls.environ)
    return {
        "config": {name: getattr(config, name) for name in CONNECTION_FIELDS},
        "environ": {k: v for k, v in environ.items() if k not in SECRET_VARIABLES},
    }


def restore(shared: SharedState, records: list[dict[str, Any]]) -> int:
    """Take over a previous daemon's caches (expired ones dropped); returns how many."""
    now = dt.datetime.now(dt.timezone.utc)
    entries = []
    for record in records:
        try:
            cache = OwnedCache.from_record(record)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            log.warning("ignoring a cache record the previous daemon left: %s", exc)
            continue
        if cache.expired(now):
            continue
        waiting: dict[str, int | None] = {}
        for window in record.get("windows") or []:
            if isinstance(window, dict) and isinstance(window.get("id"), str):
                pid = window.get("forwarderPid")
                waiting[window["id"]] = pid if isinstance(pid, int) else None
        entries.append((cache.name, cache, bool(record.get("deleteOnExit")), waiting))
    shared.caches.restore(entries, lambda cache: _deleter(shared, cache))
    for name, _cache, _delete, waiting in entries:
        log.info("took over cache %s (windows to come back: %d)", name, len(waiting))
    return len(entries)


async def wait_for_windows(
    shared: SharedState,
    grace: float = ADOPTION_GRACE_SECONDS,
    alive: Callable[[int], bool] = pid_alive,
) -> None:
    """Stop waiting for windows whose forwarder died, and for all after ``grace``."""
    deadline = time.monotonic() + grace
    while shared.caches.waiting_windows():
        over = time.monotonic() >= deadline

        def gone(_window: str, pid: int | None, over: bool = over) -> bool:
            return over or (pid is not None and not alive(pid))

        await shared.caches.give_up_waiting(gone)
        if over:
            return
        await asyncio.sleep(CHECK_SECONDS)


def _deleter(shared: SharedState, cache: OwnedCache) -> Callable[[], Awaitable[None]]:
    async def delete() -> None:
        await delete_without_session(shared, cache)

    return delete


async def delete_without_session(shared: SharedState, cache: OwnedCache) -> None:
    """Delete ``cache`` with its recorded connection (no window holds it any more)."""
    from greycloud.async_cache import GreyCloudAsyncCache

    if not cache.connection:
        raise RuntimeError("no connection was recorded for it")
    config = await asyncio.to_thread(_config, shared, cache)
    async with shared.borrowed_client(config) as client:  # within the limits in force
        await GreyCloudAsyncCache(client=client).delete_cache(cache.name)


def _config(shared: SharedState, cache: OwnedCache) -> Any:
    from greycloud.config import GreyCloudConfig

    assert cache.connection is not None
    fields = {k: v for k, v in (cache.connection.get("config") or {}).items() if v is not None}
    fields = {k: v for k, v in fields.items() if k in CONNECTION_FIELDS}
    environ = {str(k): str(v) for k, v in (cache.connection.get("environ") or {}).items()}
    overrides = shared.lock_connection(fields)
    return GreyCloudConfig(
        **overrides,
        model=cache.model,
        resolve_project=False,
        environ=shared.environ_for(environ),
    )
