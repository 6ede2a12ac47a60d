"""Asking the cached workspace: which cache a question uses, what a new one costs, what it saved.

- ``greycloud.workspaceCacheState``: the newest fresh (else stale) cache of a folder;
- ``greycloud.cacheWorkspace`` with ``dryRun``: ``workspace_cache.plan.plan_cache``
  (files, tokens, cost);
- ``cachedContent: "workspace"`` on ``greycloud.generate``: :func:`resolve_workspace_cache`;
- the generate result's ``cost``: :func:`question_saving`.

Prices come from :mod:`greycloud.pricing` (estimates, USD).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import attrs
from pygls.exceptions import JsonRpcInvalidParams

from greycloud_lsp.common.payload_conversion import dump, parse
from greycloud_lsp.common.payloads import CacheSaving, Usage
from greycloud_lsp.features.workspace_cache.file_selection import is_within
from greycloud_lsp.features.workspace_cache.folders import (
    choose_folder,
    folder_for,
    workspace_roots,
)
from greycloud_lsp.features.workspace_cache.owned_cache import OwnedCache, iso_time
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


def _scope(ls: GreyCloudLanguageServer) -> tuple[str | None, str | None] | None:
    """The session's (project, location), or None while its config is unresolved or invalid."""
    try:
        config = ls.config
    except (RuntimeError, ValueError):
        return None
    return config.project_id, config.location


def _scope_of(cache: OwnedCache) -> tuple[str | None, str | None]:
    """(project, location) a cache was made in (from its name when not recorded)."""
    parts = cache.name.split("/")
    named = dict(zip(parts[::2], parts[1::2], strict=False))
    return (
        cache.project or named.get("projects"),
        cache.location or named.get("locations"),
    )


def session_caches(ls: GreyCloudLanguageServer) -> list[OwnedCache]:
    """Live caches this session may answer ``"workspace"`` from, oldest first.

    Only caches made in the session's own project and location, of one of its
    own workspace folders (or a folder inside one): in the daemon, another
    window's repository, project or location never answers.
    """
    scope = _scope(ls)
    if scope is None:
        return []
    roots = workspace_roots(ls)
    return [
        c
        for c in ls.shared.caches.values()
        if not c.expired()
        and _scope_of(c) == scope
        and c.folder is not None
        and any(is_within(Path(c.folder), root) for root in roots)
    ]


def caches_of(ls: GreyCloudLanguageServer, folder: str) -> list[OwnedCache]:
    """The session's live caches (`session_caches`) of ``folder``, oldest first."""
    return [c for c in session_caches(ls) if c.folder == folder]


def _newest_fresh_first(caches: list[OwnedCache]) -> OwnedCache | None:
    fresh = [c for c in caches if not c.stale]
    if fresh:
        return fresh[-1]
    return caches[-1] if caches else None


def newest(ls: GreyCloudLanguageServer, folder: str) -> OwnedCache | None:
    """The newest fresh cache of ``folder``, else the newest stale one, else None."""
    return _newest_fresh_first(caches_of(ls, folder))


def resolve_workspace_cache(
    ls: GreyCloudLanguageServer, uri: str | None, command: str
) -> OwnedCache:
    """What ``cachedContent: "workspace"`` means for a question about ``uri``.

    The newest fresh (else stale) cache of the workspace folder holding ``uri``
    (else of the first folder); else one of a folder inside it; else of a
    folder inside another of the session's workspace folders. Never a cache of
    another project, location or repository (`session_caches`).
    """
    folder = folder_for(ls, uri)
    mine = session_caches(ls)
    cache = None
    if folder is not None:
        cache = _newest_fresh_first([c for c in mine if c.folder == folder])
        if cache is None:  # e.g. a cache of a sub-folder
            inside = [c for c in mine if is_within(Path(str(c.folder)), Path(folder))]
            cache = _newest_fresh_first(inside)
    if cache is None:
        cache = _newest_fresh_first(mine)
    if cache is None:
        scope = _scope(ls)
        where = f" in {scope[0]}/{scope[1]}" if scope is not None else ""
        raise JsonRpcInvalidParams(
            f"{command}: cachedContent: no live workspace cache of {folder or 'this workspace'}"
            f"{where}; run greycloud.cacheWorkspace first"
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
    await ls.settings_ready()  # which project and location are the session's
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
