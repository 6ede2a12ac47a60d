"""Workspace context caches: create, list, delete, extend; staleness and keep-alive."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pygls.uris import to_fs_path

from .cache_plan import collect_contents, plan_cache
from .collect import is_within
from .errors import RequestFailed, backend_error
from .payloads import (
    CacheListEntry,
    CacheStatus,
    CacheWorkspaceArgs,
    CacheWorkspaceResult,
    DeleteCacheArgs,
    ExtendCacheArgs,
    ListCachesArgs,
    dump,
    parse,
)
from .progress import ProgressReporter
from .session import Feature, GreyCloudLanguageServer
from .text_metrics import digest

if TYPE_CHECKING:
    from greycloud.async_cache import GreyCloudAsyncCache

log = logging.getLogger(__name__)

STATUS_METHOD = "greycloud/cacheStatus"
TICK_SECONDS = 1.0
POLL_EVERY_TICKS = 5
WATCHER_ID = "greycloud-cache-files"


@attrs.define
class OwnedCache:
    """A cache this server created, with the digests of the files it holds."""

    name: str
    display_name: str | None
    model: str
    ttl_seconds: int
    expire_time: dt.datetime | None
    files: dict[str, str]  # resolved path -> content digest
    mtimes: dict[str, float]
    last_used: float = attrs.field(factory=time.monotonic)
    stale: bool = False
    stale_reason: str = ""
    folder: str | None = None
    """The folder whose files were cached."""
    tokens: int | None = None


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.isoformat().replace("+00:00", "Z")


def _tokens_of(cached: Any) -> int | None:
    from greycloud.cache import cache_tokens

    return cache_tokens(cached)


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
        delete = (lambda: self.delete(name)) if self.ls.settings.cache.delete_on_exit else None
        self.ls.shared.caches.add(name, cache, self.ls, delete)

    async def initialized(self) -> None:
        self.start()
        await self.register_file_watchers()

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

    def resolve_cached_content(self, value: str | None, command: str) -> str | None:
        """Map ``"workspace"`` to the newest live cache this server made."""
        if value != "workspace":
            return value
        now = dt.datetime.now(dt.timezone.utc)
        live = [
            c for c in self.owned.values() if c.expire_time is None or _aware(c.expire_time) > now
        ]
        if not live:
            raise JsonRpcInvalidParams(
                f"{command}: cachedContent: no live workspace cache; "
                "run greycloud.cacheWorkspace first"
            )
        return live[-1].name

    def mark_used(self, name: str | None) -> None:
        cache = self.ls.shared.caches.get(name) if name else None
        if cache is not None:
            self.ls.shared.caches.acquire(cache.name, self.ls)
            cache.last_used = time.monotonic()

    # -- staleness --------------------------------------------------------------

    def file_changed(self, path: str, text: str | None, reason: str) -> None:
        """``path`` was saved or changed on disk: mark caches holding it stale."""
        try:
            resolved = str(Path(path).resolve())
        except OSError:
            return
        for cache in self.owned.values():
            old = cache.files.get(resolved)
            if old is None or cache.stale:
                continue
            if text is None:
                try:
                    text = Path(resolved).read_text("utf-8")
                except (OSError, UnicodeDecodeError):
                    text = None  # deleted or unreadable: certainly stale
            if text is not None and digest(text) == old:
                continue
            self.mark_stale(cache, f"{reason}: {Path(resolved).name}")

    def mark_stale(self, cache: OwnedCache, reason: str) -> None:
        cache.stale = True
        cache.stale_reason = reason
        log.info("cache %s is stale (%s)", cache.name, reason)
        self.announce(cache)

    def announce(self, cache: OwnedCache, *, deleted: bool = False) -> None:
        """``greycloud/cacheStatus`` for a created, stale, extended or deleted cache."""
        status = CacheStatus(
            name=cache.name,
            stale=cache.stale,
            reason=cache.stale_reason,
            deleted=deleted,
            expire_time=_iso(cache.expire_time),
            tokens=cache.tokens,
            folder=cache.folder,
            display_name=cache.display_name,
        )
        try:
            self.ls.notify(STATUS_METHOD, status)
        except Exception as exc:  # no client connected (unit tests)
            log.debug("could not send cache status: %s", exc)

    def _poll_files(self) -> None:
        for cache in list(self.owned.values()):
            if cache.stale:
                continue
            for path, mtime in cache.mtimes.items():
                try:
                    now = Path(path).stat().st_mtime
                except OSError:
                    self.mark_stale(cache, f"deleted: {Path(path).name}")
                    break
                if now != mtime:
                    cache.mtimes[path] = now
                    self.file_changed(path, None, "changed on disk")
                    if cache.stale:
                        break

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
                self._poll_files()
            self._forget_expired()
            if self.ls.settings.cache.keep_alive:
                await self._keep_alive()

    def _forget_expired(self) -> None:
        """Expired caches are gone upstream: drop them and say so (``deleted``, "expired")."""
        now = dt.datetime.now(dt.timezone.utc)
        for cache in list(self.owned.values()):
            if cache.expire_time is not None and _aware(cache.expire_time) <= now:
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
            remaining = (_aware(cache.expire_time) - now).total_seconds()
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
        """Leave: delete the caches (``cache.deleteOnExit``) no other session holds."""
        if self._loop_task is not None:
            self._loop_task.cancel()
        await self.ls.shared.caches.release_all(self.ls)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def setup(server: GreyCloudLanguageServer) -> None:
    server.add_feature(CacheRegistry(server))
    server.command("greycloud.cacheWorkspace")(cache_workspace_command)
    server.command("greycloud.listCaches")(list_caches_command)
    server.command("greycloud.deleteCache")(delete_cache_command)
    server.command("greycloud.extendCache")(extend_cache_command)
    server.feature(types.TEXT_DOCUMENT_DID_SAVE)(on_did_save)
    server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)(on_watched_files)


def on_did_save(ls: GreyCloudLanguageServer, params: types.DidSaveTextDocumentParams) -> None:
    uri = params.text_document.uri
    path = to_fs_path(uri)
    caches = ls.get_feature(CacheRegistry)
    if path is None or not caches.owned:
        return
    text = params.text
    if text is None and uri in ls.workspace.text_documents:
        text = ls.workspace.get_text_document(uri).source
    caches.file_changed(path, text, "saved")


def on_watched_files(
    ls: GreyCloudLanguageServer, params: types.DidChangeWatchedFilesParams
) -> None:
    for change in params.changes:
        path = to_fs_path(change.uri)
        if path is None:
            continue
        deleted = change.type == types.FileChangeType.Deleted
        ls.get_feature(CacheRegistry).file_changed(
            path, None, "deleted" if deleted else "changed on disk"
        )


# -- commands --------------------------------------------------------------------


def _workspace_roots(ls: GreyCloudLanguageServer) -> list[Path]:
    roots = []
    for folder in ls.workspace.folders.values():
        if (path := to_fs_path(folder.uri)) is not None:
            roots.append(Path(path).resolve())
    if not roots and ls.workspace.root_path:
        roots.append(Path(ls.workspace.root_path).resolve())
    return roots


def _choose_folder(ls: GreyCloudLanguageServer, folder: str | None, command: str) -> Path:
    roots = _workspace_roots(ls)
    if not roots:
        raise JsonRpcInvalidParams(f"{command}: folder: no workspace folder is open")
    if folder is None:
        return roots[0]
    path = to_fs_path(folder) if "://" in folder else folder
    if path is None:
        raise JsonRpcInvalidParams(f"{command}: folder: {folder!r} is not a file URI")
    candidate = Path(path)
    if not any(is_within(candidate, root) for root in roots):
        raise JsonRpcInvalidParams(f"{command}: folder: {folder} is outside the workspace folders")
    if not candidate.resolve().is_dir():
        raise JsonRpcInvalidParams(f"{command}: folder: {folder} is not a directory")
    return candidate.resolve()


def _mtimes(paths: Iterable[str]) -> dict[str, float]:
    out = {}
    for path in paths:
        try:
            out[path] = Path(path).stat().st_mtime
        except OSError:
            continue
    return out


async def cache_workspace_command(ls: GreyCloudLanguageServer, *args: Any) -> Any:
    """``greycloud.cacheWorkspace``: upload workspace files as a context cache."""
    command = "greycloud.cacheWorkspace"
    request = parse(CacheWorkspaceArgs, list(args), command)
    await ls.settings_ready()
    root = _choose_folder(ls, request.folder, command)
    settings = ls.settings.cache
    if request.dry_run:
        try:
            return dump(await plan_cache(ls, request, root))
        except Exception as exc:
            raise backend_error(exc, command) from exc
    task = asyncio.current_task()
    progress = ProgressReporter(
        ls, "Gemini cache", on_cancel=task.cancel if task is not None else lambda: None
    )
    if task is not None:
        ls.on_cancel_request(task.cancel)
    try:
        await progress.begin(f"Reading {root.name}…", 0)
        try:
            result = await _create_cache(ls, request, root, settings, progress)
        except asyncio.CancelledError:
            progress.end("Cancelled")
            raise
        except Exception as exc:
            progress.end(f"Failed: {exc}")
            raise backend_error(exc, command) from exc
        progress.end(f"Cached {len(result.files)} files")
        if request.refresh:
            await ls.get_feature(CacheRegistry).delete_stale(str(root), keep=result.name)
        return dump(result)
    finally:
        ls.progress_tokens.pop(progress.token, None)
        ls.cancel_hooks.pop(ls.protocol.msg_id, None)


async def _create_cache(
    ls: GreyCloudLanguageServer,
    request: CacheWorkspaceArgs,
    root: Path,
    settings: Any,
    progress: ProgressReporter,
) -> CacheWorkspaceResult:
    collected, skipped, contents = await collect_contents(request, root, settings)
    progress.report(f"{len(collected.files)} files, {collected.total_bytes} bytes", 30)
    model = request.model or ls.model
    ttl = request.ttl_seconds or settings.ttl_seconds
    display_name = request.display_name or f"greycloud-lsp {root.name}"
    progress.report(f"Counting and uploading {len(collected.files)} files…", 60)
    from greycloud.cache import CacheTooSmallError

    backend = ls.get_feature(CacheRegistry).backend()
    try:
        cached = await backend.create_cache(
            contents,
            model=model,
            display_name=display_name,
            system_instruction=request.system_instruction,
            ttl_seconds=ttl,
            min_tokens=settings.min_tokens,
        )
    except CacheTooSmallError as exc:
        raise RequestFailed(
            f"the selected files are {exc.token_count} tokens but {model} can only cache "
            f"{exc.min_tokens} tokens or more: include more files (cache.include) or send "
            "them without a cache (if the API accepts less for this model, lower "
            "cache.minTokens; 0 skips this check)"
        ) from None
    files = {str(path): digest(text) for _rel, path, text in collected.files}
    mtimes = await asyncio.to_thread(_mtimes, files)
    owned = OwnedCache(
        name=cached.name,
        display_name=cached.display_name or display_name,
        model=model,
        ttl_seconds=ttl,
        expire_time=cached.expire_time,
        files=files,
        mtimes=mtimes,
        folder=str(root),
        tokens=_tokens_of(cached),
    )
    caches = ls.get_feature(CacheRegistry)
    caches.add(owned)
    caches.announce(owned)
    log.info("created cache %s with %d files", owned.name, len(files))
    return CacheWorkspaceResult(
        name=owned.name,
        display_name=owned.display_name,
        model=model,
        tokens=_tokens_of(cached),
        expire_time=_iso(cached.expire_time),
        files=[rel for rel, _p, _t in collected.files],
        skipped=skipped,
    )


async def list_caches_command(ls: GreyCloudLanguageServer, *args: Any) -> Any:
    command = "greycloud.listCaches"
    if args and args != (None,):
        parse(ListCachesArgs, list(args), command)
    try:
        entries = []
        for cached in await ls.get_feature(CacheRegistry).backend().list_caches():
            owned = ls.shared.caches.get(cached.name)
            entries.append(
                CacheListEntry(
                    name=cached.name,
                    display_name=cached.display_name,
                    model=cached.model,
                    tokens=_tokens_of(cached),
                    expire_time=_iso(cached.expire_time),
                    owned_by_server=owned is not None,
                    stale=bool(owned and owned.stale),
                )
            )
    except Exception as exc:
        raise backend_error(exc, command) from exc
    return dump(entries)


async def delete_cache_command(ls: GreyCloudLanguageServer, *args: Any) -> Any:
    command = "greycloud.deleteCache"
    request = parse(DeleteCacheArgs, list(args), command)
    try:
        await ls.get_feature(CacheRegistry).delete(request.name)
    except Exception as exc:
        raise backend_error(exc, command) from exc
    return {"deleted": True}


async def extend_cache_command(ls: GreyCloudLanguageServer, *args: Any) -> Any:
    command = "greycloud.extendCache"
    request = parse(ExtendCacheArgs, list(args), command)
    try:
        updated = await ls.get_feature(CacheRegistry).extend(request.name, request.ttl_seconds)
    except Exception as exc:
        raise backend_error(exc, command) from exc
    return {"name": updated.name or request.name, "expireTime": _iso(updated.expire_time)}
