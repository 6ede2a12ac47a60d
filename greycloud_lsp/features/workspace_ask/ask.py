"""Asking the cached workspace: which cache a question uses, what a new one costs, what it saved.

- ``greycloud.workspaceCacheState``: the newest fresh (else stale) cache of a folder;
- ``greycloud.cacheWorkspace`` with ``dryRun``: ``cache_plan.plan_cache`` (files, tokens, cost);
- ``cachedContent: "workspace"`` on ``greycloud.generate``: :func:`resolve_workspace_cache`;
- the generate result's ``cost``: :func:`question_saving`.

Prices come from :mod:`greycloud.pricing` (estimates, USD).
"""

from __future__ import annotations

from typing import Any, Literal

import attrs
from pygls.exceptions import JsonRpcInvalidParams

from greycloud_lsp.common.payload_conversion import dump, parse
from greycloud_lsp.common.payloads import CacheSaving, Usage
from greycloud_lsp.features.workspace_cache.folders import choose_folder, folder_for
from greycloud_lsp.features.workspace_cache.registry import OwnedCache, iso_time
from greycloud_lsp.language_server import GreyCloudLanguageServer

STATE_COMMAND = "greycloud.workspaceCacheState"


@attrs.define
class WorkspaceCacheStateArgs:
    """Arguments of ``greycloud.workspaceCacheState``."""

    folder: str | None = None


@attrs.define
class CacheInfo:
    """One server-owned workspace cache."""

    name: str
    display_name: str | None
    model: str
    tokens: int | None
    expire_time: str | None
    expires_in_seconds: int | None
    stale: bool
    stale_reason: str
    folder: str | None


@attrs.define
class WorkspaceCacheState:
    """Result of ``greycloud.workspaceCacheState``."""

    state: Literal["fresh", "stale", "none"]
    folder: str
    cache: CacheInfo | None


def setup(server: GreyCloudLanguageServer) -> None:
    server.command(STATE_COMMAND)(workspace_cache_state_command)


# -- which cache --------------------------------------------------------------------


def caches_of(ls: GreyCloudLanguageServer, folder: str) -> list[OwnedCache]:
    """Live (unexpired) caches of ``folder`` in this process, oldest first."""
    return [c for c in ls.shared.caches.values() if c.folder == folder and not c.expired()]


def newest(ls: GreyCloudLanguageServer, folder: str) -> OwnedCache | None:
    """The newest fresh cache of ``folder``, else the newest stale one, else None."""
    live = caches_of(ls, folder)
    fresh = [c for c in live if not c.stale]
    if fresh:
        return fresh[-1]
    return live[-1] if live else None


def resolve_workspace_cache(
    ls: GreyCloudLanguageServer, uri: str | None, command: str
) -> OwnedCache:
    """What ``cachedContent: "workspace"`` means for a question about ``uri``."""
    folder = folder_for(ls, uri)
    cache = newest(ls, folder) if folder is not None else None
    if cache is None:  # e.g. a cache of a sub-folder: any live cache, newest fresh first
        live = [c for c in ls.shared.caches.values() if not c.expired()]
        live.sort(key=lambda c: not c.stale)
        cache = live[-1] if live else None
    if cache is None:
        raise JsonRpcInvalidParams(
            f"{command}: cachedContent: no live workspace cache; run greycloud.cacheWorkspace first"
        )
    return cache


def info(cache: OwnedCache) -> CacheInfo:
    return CacheInfo(
        name=cache.name,
        display_name=cache.display_name,
        model=cache.model,
        tokens=cache.tokens,
        expire_time=iso_time(cache.expire_time),
        expires_in_seconds=cache.seconds_left(),
        stale=cache.stale,
        stale_reason=cache.stale_reason,
        folder=cache.folder,
    )


async def workspace_cache_state_command(ls: GreyCloudLanguageServer, *args: Any) -> Any:
    """``greycloud.workspaceCacheState``: fresh / stale / none for a folder (no API call)."""
    request = (
        parse(WorkspaceCacheStateArgs, list(args), STATE_COMMAND)
        if args and args != (None,)
        else WorkspaceCacheStateArgs()
    )
    root = str(choose_folder(ls, request.folder, STATE_COMMAND))
    cache = newest(ls, root)
    if cache is None:
        return dump(WorkspaceCacheState("none", root, None))
    return dump(WorkspaceCacheState("stale" if cache.stale else "fresh", root, info(cache)))


# -- what it costs --------------------------------------------------------------------


def question_saving(model: str, usage: Usage) -> CacheSaving:
    """Input cost of one question with its cached tokens vs sending them again."""
    from greycloud.pricing import TOKENS_PER_UNIT, price_for

    price = price_for(model)
    cached = usage.cached_tokens
    prompt = max(usage.prompt_tokens, cached)  # Vertex counts cached tokens in the prompt
    without = prompt / TOKENS_PER_UNIT * price.input_per_million
    with_cache = (
        (prompt - cached) / TOKENS_PER_UNIT * price.input_per_million
        + cached / TOKENS_PER_UNIT * price.cached_input_per_million
    )
    saving = without - with_cache
    return CacheSaving(
        model=model,
        cached_tokens=cached,
        prompt_tokens=prompt,
        input_cost_with_cache=with_cache,
        input_cost_without_cache=without,
        saving=saving,
        saving_percent=100.0 * saving / without if without > 0 else 0.0,
    )
