"""The workspace caches a session holds: staleness, keep-alive, extend and delete.

The commands that create, list, delete and extend caches are in ``commands``; a
cache itself is ``owned_cache.OwnedCache``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.uris import to_fs_path

from greycloud_lsp.common.payloads import CacheStatus
from greycloud_lsp.common.text_metrics import digest
from greycloud_lsp.features.workspace_cache.owned_cache import (
    OwnedCache,
    aware,
    iso_time,
    mtimes_of,
)
from greycloud_lsp.language_server import Feature, GreyCloudLanguageServer
from greycloud_lsp.shared_caches import window_of

if TYPE_CHECKING:
    from greycloud.async_cache import GreyCloudAsyncCache

log = logging.getLogger(__name__)

STATUS_METHOD = "greycloud/cacheStatus"
TICK_SECONDS = 1.0
POLL_EVERY_TICKS = 5
WATCHER_ID = "greycloud-cache-files"


class CacheRegistry(Feature):
    """The caches this session holds, and the background keep-alive / staleness loop.

    The caches themselves are registered in the process-wide ``shared.caches``:
    a session holds the caches it created or used; one created with
    ``cache.deleteOnExit`` is deleted when the last session holding it leaves.
    """

    def __init__(self, ls: GreyCloudLanguageServer):
        super().__init__(ls)
        self._loop_task: asyncio.Task[Any] | None = None

    @property
    def owned(self) -> dict[str, OwnedCache]:
        """The caches this session holds, oldest first."""
        return {cache.name: cache for cache in self.ls.shared.caches.held_by(self.ls)}

    def add(self, cache: OwnedCache) -> None:
        """Register a cache this session created."""
        name = cache.name
        delete = self._delete_later(name) if self.ls.settings.cache.delete_on_exit else None
        self.ls.shared.caches.add(name, cache, self.ls, delete)

    def _delete_later(self, name: str) -> Callable[[], Awaitable[None]]:
        """The delete run when the last session holding ``name`` has left: background work
        on a borrowed client of this session's config, asking for no limits of its own."""
        shared = self.ls.shared
        try:
            config = self.ls.config
        except (RuntimeError, ValueError):  # invalid settings: nothing to delete it with
            config = None

        async def delete() -> None:
            from greycloud.async_cache import GreyCloudAsyncCache

            if config is None:
                raise RuntimeError("its session had no valid configuration; it expires with TTL")
            async with shared.borrowed_client(config) as client:
                await GreyCloudAsyncCache(client=client).delete_cache(name)

        return delete

    async def initialized(self) -> None:
        self.start()
        self.adopt()
        await self.register_file_watchers()

    def adopt(self) -> None:
        """After a daemon restart: hold again the caches this window held, and say so."""
        window = window_of(self.ls)
        if window is None:
            return

        for cache in self.ls.shared.caches.adopt(window[0], self.ls, self._delete_later):
            log.info("took back cache %s after a daemon restart", cache.name)
            self.announce(cache)

    async def close(self) -> None:
        await self.on_exit()

    # -- backend ------------------------------------------------------------

    def backend(self) -> GreyCloudAsyncCache:
        """The library's cache API over the shared client (its retries and rate limiter)."""
        from greycloud.async_cache import GreyCloudAsyncCache

        return GreyCloudAsyncCache(client=self.ls.get_client())

    def _held(self, name: str) -> OwnedCache | None:
        """The registered cache ``name`` refers to, in any accepted form (ID, full name...)."""
        from greycloud.cache_names import cache_id

        held = self.ls.shared.caches.get(name)
        if held is not None:
            return held
        wanted = cache_id(name)
        return next((c for c in self.ls.shared.caches.values() if cache_id(c.name) == wanted), None)

    # -- lookups used by other features ---------------------------------------

    def mark_used(self, name: str | None) -> None:
        cache = self.ls.shared.caches.get(name) if name else None
        if cache is not None:
            self.ls.shared.caches.acquire(cache.name, self.ls)
            cache.last_used = time.monotonic()

    # -- staleness --------------------------------------------------------------

    async def file_changed(self, path: str, text: str | None, reason: str) -> None:
        """``path`` was saved or changed on disk: mark caches holding it stale.

        Without ``text`` the file is read in a thread (never on the event loop).
        """
        if not self.ls.shared.caches:
            return
        resolved = await asyncio.to_thread(_resolved, path)
        if resolved is None:
            return
        holding = [  # any session's cache of this file
            cache
            for cache in self.ls.shared.caches.values()
            if not cache.stale and resolved in cache.files
        ]
        if not holding:
            return
        if text is None:  # deleted or unreadable (None): certainly stale
            text = await asyncio.to_thread(_read_text, resolved)
        for cache in holding:
            if cache.stale or cache.name not in self.ls.shared.caches:
                continue  # marked meanwhile, or deleted while the file was read
            if text is not None and digest(text) == cache.files.get(resolved):
                continue
            self.mark_stale(cache, f"{reason}: {Path(resolved).name}")

    def mark_stale(self, cache: OwnedCache, reason: str) -> None:
        cache.stale = True
        cache.stale_reason = reason
        log.info("cache %s is stale (%s)", cache.name, reason)
        self.ls.shared.caches.changed()
        self.announce(cache)

    def announce(self, cache: OwnedCache, *, deleted: bool = False) -> None:
        """``greycloud/cacheStatus`` for a created, stale, extended or deleted cache."""
        status = CacheStatus(
            name=cache.name,
            stale=cache.stale,
            reason=cache.stale_reason,
            deleted=deleted,
            expire_time=iso_time(cache.expire_time),
            tokens=cache.tokens,
            folder=cache.folder,
            display_name=cache.display_name,
        )
        # Every session holding the cache shows its state (two windows on one folder).
        sessions = {self.ls, *self.ls.shared.caches.holders(cache.name)}
        for session in sessions:
            try:
                session.notify(STATUS_METHOD, status)
            except Exception as exc:  # that client is gone, or none is connected (unit tests)
                log.debug("could not send cache status: %s", exc)

    async def _poll_files(self) -> None:
        """Compare the held caches' files with their times on disk (stat in a thread)."""
        watched = [cache for cache in self.owned.values() if not cache.stale]
        paths = {path for cache in watched for path in cache.mtimes}
        on_disk = await asyncio.to_thread(mtimes_of, paths)
        for cache in watched:
            for path, mtime in list(cache.mtimes.items()):
                if cache.stale or cache.name not in self.ls.shared.caches:
                    break  # stale already, or deleted while the times were read
                now = on_disk.get(path)
                if now is None:
                    self.mark_stale(cache, f"deleted: {Path(path).name}")
                    break
                if now != mtime:
                    cache.mtimes[path] = now
                    await self.file_changed(path, None, "changed on disk")

    # -- background loop ----------------------------------------------------------

    def start(self) -> None:
        if self._loop_task is None:
            self._loop_task = self.ls.spawn(self._maintain(), name="cache-maintenance")

    async def register_file_watchers(self) -> None:
        """Ask for ``workspace/didChangeWatchedFiles`` if the client can register them."""
        workspace = self.ls.client_capabilities.workspace
        watched = workspace.did_change_watched_files if workspace else None
        if not (watched and watched.dynamic_registration):
            return
        options = types.DidChangeWatchedFilesRegistrationOptions(
            watchers=[types.FileSystemWatcher(glob_pattern="**/*")]
        )
        try:
            await self.ls.client_register_capability_async(
                types.RegistrationParams(
                    registrations=[
                        types.Registration(
                            id=WATCHER_ID,
                            method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                            register_options=options,
                        )
                    ]
                )
            )
        except Exception as exc:
            log.debug("file watcher registration refused: %s", exc)

    async def _maintain(self) -> None:
        ticks = 0
        while True:
            await asyncio.sleep(TICK_SECONDS)
            ticks += 1
            if ticks % POLL_EVERY_TICKS == 0 and self.owned:
                await self._poll_files()
            self._forget_expired()
            if self.ls.settings.cache.keep_alive:
                await self._keep_alive()

    def _forget_expired(self) -> None:
        """Expired caches are gone upstream: drop them and say so (``deleted``, "expired")."""
        now = dt.datetime.now(dt.timezone.utc)
        for cache in list(self.owned.values()):
            if cache.expired(now):
                self.ls.shared.caches.forget(cache.name)
                cache.stale_reason = cache.stale_reason or "expired"
                log.info("cache %s expired", cache.name)
                self.announce(cache, deleted=True)

    async def _keep_alive(self) -> None:
        now = dt.datetime.now(dt.timezone.utc)
        for cache in list(self.owned.values()):
            if cache.expire_time is None:
                continue
            in_use = time.monotonic() - cache.last_used < cache.ttl_seconds
            remaining = (aware(cache.expire_time) - now).total_seconds()
            margin = min(300.0, max(2.0, cache.ttl_seconds * 0.25))
            if in_use and 0 < remaining < margin:
                try:
                    await self.extend(cache.name, cache.ttl_seconds)
                    log.info("kept cache %s alive for %ss", cache.name, cache.ttl_seconds)
                except Exception as exc:
                    log.warning("could not extend cache %s: %s", cache.name, exc)

    # -- operations ----------------------------------------------------------------

    async def extend(self, name: str, ttl_seconds: int) -> Any:
        updated = await self.backend().update_cache_ttl(name, ttl_seconds=ttl_seconds)
        held = self._held(name)
        if held is not None:
            held.expire_time = updated.expire_time
            held.ttl_seconds = ttl_seconds
            self.ls.shared.caches.changed()
            self.announce(held)
        return updated

    async def delete(self, name: str) -> None:
        await self.backend().delete_cache(name)
        held = self._held(name)
        if held is not None:
            self.ls.shared.caches.forget(held.name)
            self.announce(held, deleted=True)

    async def delete_stale(self, folder: str, *, keep: str) -> None:
        """Delete the stale caches of ``folder`` (after a refresh made ``keep``)."""
        for cache in list(self.ls.shared.caches.values()):
            if cache.folder == folder and cache.stale and cache.name != keep:
                try:
                    await self.delete(cache.name)
                except Exception as exc:
                    self.ls.show_warning(
                        f"GreyCloud: could not delete the stale cache {cache.name}: {exc}"
                    )

    async def on_exit(self) -> None:
        """Leave: stop the loop; the caches (``cache.deleteOnExit``) no other session holds
        are deleted in the background (the session released them already: `cleanup`)."""
        if self._loop_task is not None:
            self._loop_task.cancel()
        self.ls.shared.caches.release_all(self.ls)


def _resolved(path: str) -> str | None:
    try:
        return str(Path(path).resolve())
    except OSError:
        return None


def _read_text(path: str) -> str | None:
    try:
        return Path(path).read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def setup(server: GreyCloudLanguageServer) -> None:
    server.add_feature(CacheRegistry(server))
    server.feature(types.TEXT_DOCUMENT_DID_SAVE)(on_did_save)
    server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)(on_watched_files)


async def on_did_save(ls: GreyCloudLanguageServer, params: types.DidSaveTextDocumentParams) -> None:
    uri = params.text_document.uri
    path = to_fs_path(uri)
    caches = ls.get_feature(CacheRegistry)
    if path is None or not ls.shared.caches:
        return
    text = params.text
    if text is None and uri in ls.workspace.text_documents:
        text = ls.workspace.get_text_document(uri).source
    await caches.file_changed(path, text, "saved")


async def on_watched_files(
    ls: GreyCloudLanguageServer, params: types.DidChangeWatchedFilesParams
) -> None:
    for change in params.changes:
        path = to_fs_path(change.uri)
        if path is None:
            continue
        deleted = change.type == types.FileChangeType.Deleted
        await ls.get_feature(CacheRegistry).file_changed(
            path, None, "deleted" if deleted else "changed on disk"
        )
