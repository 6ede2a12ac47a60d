"""The cache commands: cacheWorkspace, listCaches, deleteCache and extendCache."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from greycloud_lsp.common.errors import RequestFailed, backend_error
from greycloud_lsp.common.payload_conversion import dump, parse
from greycloud_lsp.common.payloads import (
    CacheListEntry,
    CacheWorkspaceArgs,
    CacheWorkspaceResult,
    DeleteCacheArgs,
    ExtendCacheArgs,
    ListCachesArgs,
)
from greycloud_lsp.common.text_metrics import digest
from greycloud_lsp.features.progress.reporter import ProgressReporter
from greycloud_lsp.features.workspace_cache.folders import choose_folder
from greycloud_lsp.features.workspace_cache.owned_cache import (
    OwnedCache,
    iso_time,
    mtimes_of,
    tokens_of,
)
from greycloud_lsp.features.workspace_cache.persistence import connection_of
from greycloud_lsp.features.workspace_cache.plan import collect_contents, plan_cache
from greycloud_lsp.features.workspace_cache.registry import CacheRegistry
from greycloud_lsp.language_server import GreyCloudLanguageServer

log = logging.getLogger(__name__)


def setup(server: GreyCloudLanguageServer) -> None:
    server.command("greycloud.cacheWorkspace")(cache_workspace_command)
    server.command("greycloud.listCaches")(list_caches_command)
    server.command("greycloud.deleteCache")(delete_cache_command)
    server.command("greycloud.extendCache")(extend_cache_command)


async def cache_workspace_command(ls: GreyCloudLanguageServer, *args: Any) -> Any:
    """``greycloud.cacheWorkspace``: upload workspace files as a context cache."""
    command = "greycloud.cacheWorkspace"
    request = parse(CacheWorkspaceArgs, list(args), command)
    await ls.settings_ready()
    root = choose_folder(ls, request.folder, command)
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
    mtimes = await asyncio.to_thread(mtimes_of, files)
    owned = OwnedCache(
        name=cached.name,
        display_name=cached.display_name or display_name,
        model=model,
        ttl_seconds=ttl,
        expire_time=cached.expire_time,
        files=files,
        mtimes=mtimes,
        folder=str(root),
        tokens=tokens_of(cached),
        project=ls.config.project_id,
        location=ls.config.location,
        connection=connection_of(ls),
    )
    caches = ls.get_feature(CacheRegistry)
    caches.add(owned)
    await ls.shared.caches.saved()  # on disk before the editor hears of it (daemon mode)
    caches.announce(owned)
    log.info("created cache %s with %d files", owned.name, len(files))
    return CacheWorkspaceResult(
        name=owned.name,
        display_name=owned.display_name,
        model=model,
        tokens=owned.tokens,
        expire_time=iso_time(cached.expire_time),
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
                    tokens=tokens_of(cached),
                    expire_time=iso_time(cached.expire_time),
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
    return {"name": updated.name or request.name, "expireTime": iso_time(updated.expire_time)}
