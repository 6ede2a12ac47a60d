"""The workspace-cache registry several sessions share (`SharedCaches`), across daemons too.

Sessions hold references to caches; a cache marked for deletion on exit is
deleted (as `BackgroundWork`) when the last session holding it leaves, or when
the shared state closes. A daemon saves the registry for the next daemon
(`CacheStore`), which gives each cache back to its windows when they replay.

Imports nothing of the server.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Protocol

from greycloud_lsp.background_work import BackgroundWork

log = logging.getLogger(__name__)


@dataclass
class _CacheEntry:
    value: Any
    holders: set[Hashable] = field(default_factory=set)
    delete: Callable[[], Awaitable[None]] | None = None
    delete_on_exit: bool = False
    waiting: dict[str, int | None] = field(default_factory=dict)
    """Windows that held the cache in a previous daemon (window id -> forwarder pid):
    each takes it back when its forwarder replays the session (`SharedCaches.adopt`)."""


class CacheStore(Protocol):
    """Where a daemon keeps its cache registry for the next daemon (``daemon/cache_file.py``)."""

    def save(self, records: list[dict[str, Any]]) -> None: ...

    async def flush(self) -> None: ...


def window_of(holder: Hashable) -> tuple[str, int | None] | None:
    """(window id, forwarder pid) of a session attached to a daemon, else None."""
    window = getattr(holder, "window", None)
    return window if isinstance(window, tuple) else None


class SharedCaches:
    """Workspace caches known to this process, and which sessions hold each.

    Values are whatever the cache feature stores (its ``OwnedCache``, with
    ``to_record()``). A session `acquire`\\ s a cache it creates or uses and
    `release_all` when it leaves; a cache registered with ``delete``
    (``cache.deleteOnExit``) is deleted when its last holder leaves, unless a
    window of a previous daemon is still to take it back (`waiting`).

    With a `store` (daemon mode), every change is saved for the next daemon:
    a daemon that stops hands its caches over (`hand_over`), a new one
    `restore`\\ s them and sessions `adopt` theirs when their forwarder replays.
    """

    def __init__(self, background: BackgroundWork | None = None) -> None:
        self._entries: dict[str, _CacheEntry] = {}
        self.store: CacheStore | None = None
        self._handed_over = False
        self._background = background if background is not None else BackgroundWork()

    def add(
        self,
        name: str,
        value: Any,
        holder: Hashable,
        delete: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Register a new cache, held by ``holder``."""
        self._entries[name] = _CacheEntry(value, {holder}, delete, delete is not None)
        self.changed()

    def get(self, name: str) -> Any | None:
        entry = self._entries.get(name)
        return entry.value if entry is not None else None

    def values(self) -> list[Any]:
        """Every known cache, oldest first."""
        return [entry.value for entry in self._entries.values()]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def held_by(self, holder: Hashable) -> list[Any]:
        """The caches ``holder`` holds, oldest first."""
        return [e.value for e in self._entries.values() if holder in e.holders]

    def holders(self, name: str) -> list[Any]:
        """The sessions holding ``name`` (none for an unknown cache)."""
        entry = self._entries.get(name)
        return list(entry.holders) if entry is not None else []

    def acquire(self, name: str, holder: Hashable) -> None:
        """``holder`` uses ``name`` (no-op for a cache this process does not know)."""
        entry = self._entries.get(name)
        if entry is not None and holder not in entry.holders:
            entry.holders.add(holder)
            self.changed()

    def forget(self, name: str) -> None:
        """The cache is gone (deleted or expired)."""
        if self._entries.pop(name, None) is not None:
            self.changed()

    def release_all(self, holder: Hashable) -> None:
        """``holder`` leaves, at once: the caches it was the last to hold (if so marked)
        are forgotten here and deleted upstream in the background."""
        if self._handed_over:
            return  # the daemon stops: the windows take their caches to the next one
        for name, entry in list(self._entries.items()):
            if holder not in entry.holders:
                continue
            entry.holders.discard(holder)
            self.changed()
            if not entry.holders and not entry.waiting and entry.delete_on_exit:
                self._delete(name, entry)

    async def aclose(self) -> None:
        """Delete (in the background) every cache marked for deletion on exit that no
        window takes over; save the registry."""
        for name, entry in list(self._entries.items()):
            if entry.delete_on_exit and not entry.waiting:
                self._delete(name, entry)
        if self.store is not None:
            await self.store.flush()

    def _delete(self, name: str, entry: _CacheEntry) -> None:
        self._entries.pop(name, None)
        self.changed()
        delete = entry.delete
        if delete is None:
            log.warning("cache %s: nothing can delete it; it expires with its TTL", name)
            return

        async def job() -> None:
            await delete()
            log.info("deleted cache %s on exit", name)

        self._background.run(f"delete cache {name}", job)

    # -- across daemons ---------------------------------------------------------

    def changed(self) -> None:
        """Save the registry (daemon mode); call after changing a cache's value too."""
        if self.store is not None:
            self.store.save(self.records())

    async def saved(self) -> None:
        """Wait until the last change is on disk (no-op without a store)."""
        if self.store is not None:
            await self.store.flush()

    def records(self) -> list[dict[str, Any]]:
        """Every cache as the next daemon needs it: its record, deleteOnExit and windows."""
        out = []
        for entry in self._entries.values():
            windows = dict(entry.waiting)
            for holder in entry.holders:
                if (window := window_of(holder)) is not None:
                    windows[window[0]] = window[1]
            out.append(
                {
                    **entry.value.to_record(),
                    "deleteOnExit": entry.delete_on_exit,
                    "windows": [{"id": w, "forwarderPid": p} for w, p in sorted(windows.items())],
                }
            )
        return out

    def hand_over(self) -> None:
        """The daemon stops and its windows replay into the next one: keep what they hold.

        Every holder becomes a waiting window (saved), and from now on nothing
        is deleted when a session leaves; `aclose` deletes only what no window waits for.
        """
        self._handed_over = True
        for entry in self._entries.values():
            for holder in entry.holders:
                if (window := window_of(holder)) is not None:
                    entry.waiting[window[0]] = window[1]
        self.changed()

    def restore(
        self,
        records: list[tuple[str, Any, bool, dict[str, int | None]]],
        delete_for: Callable[[Any], Callable[[], Awaitable[None]]],
    ) -> None:
        """Take over a previous daemon's caches: (name, value, deleteOnExit, waiting windows).

        ``delete_for(value)`` deletes a cache no window takes back (the adopting
        session's own delete replaces it).
        """
        for name, value, delete_on_exit, waiting in records:
            self._entries[name] = _CacheEntry(
                value, set(), delete_for(value), delete_on_exit, dict(waiting)
            )
        self.changed()

    def adopt(
        self,
        window: str,
        holder: Hashable,
        delete_for: Callable[[str], Callable[[], Awaitable[None]]],
    ) -> list[Any]:
        """``holder`` is window ``window`` replayed: it holds again what it held; returns those."""
        adopted = []
        for name, entry in self._entries.items():
            if entry.waiting.pop(window, False) is not False:
                entry.holders.add(holder)
                entry.delete = delete_for(name)
                adopted.append(entry.value)
        if adopted:
            self.changed()
        return adopted

    def waiting_windows(self) -> dict[str, int | None]:
        """The windows still expected to take a cache back (id -> forwarder pid)."""
        return {w: p for e in self._entries.values() for w, p in e.waiting.items()}

    async def give_up_waiting(self, gone: Callable[[str, int | None], bool]) -> None:
        """Stop waiting for the windows ``gone(id, pid)`` names; delete what nobody holds."""
        for name, entry in list(self._entries.items()):
            dropped = [w for w, pid in entry.waiting.items() if gone(w, pid)]
            if not dropped:
                continue
            for window in dropped:
                del entry.waiting[window]
            self.changed()
            if not entry.holders and not entry.waiting and entry.delete_on_exit:
                log.info("cache %s: its windows did not come back; deleting it", name)
                self._delete(name, entry)

    def status(self) -> list[dict[str, Any]]:
        return [
            {
                "name": name,
                "sessions": len(e.holders),
                "deleteOnExit": e.delete_on_exit,
                "waitingWindows": len(e.waiting),
            }
            for name, e in self._entries.items()
        ]
