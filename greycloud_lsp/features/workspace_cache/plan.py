"""What ``greycloud.cacheWorkspace`` would upload: the files, their tokens, the cost.

Shared by the cache commands (``workspace_cache``), ``dryRun`` plans and the
code actions; imports no other feature module.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import attrs

from greycloud_lsp.common.errors import RequestFailed
from greycloud_lsp.common.payloads import CacheWorkspaceArgs, SkippedFile
from greycloud_lsp.features.workspace_cache.file_selection import collect
from greycloud_lsp.language_server import GreyCloudLanguageServer


async def collect_contents(
    request: CacheWorkspaceArgs, root: Path, settings: Any
) -> tuple[Any, list[SkippedFile], list[Any]]:
    """The files to cache under ``root`` (off the loop), what was skipped, and the contents."""
    from google.genai import types as gtypes

    collected = await asyncio.to_thread(
        collect,
        root,
        include=request.include if request.include is not None else settings.include,
        exclude=[*settings.exclude, *(request.exclude or [])],
        max_file_bytes=settings.max_file_bytes,
        max_total_bytes=settings.max_total_bytes,
    )
    skipped = [SkippedFile(path, reason) for path, reason in collected.skipped]
    if not collected.files:
        raise RequestFailed(
            f"nothing to cache in {root}: every file was skipped "
            f"({len(skipped)} skipped); check cache.include/exclude and .gitignore"
        )
    parts = [
        gtypes.Part.from_text(text=f"File: {rel}\n```\n{text}\n```\n")
        for rel, _path, text in collected.files
    ]
    return collected, skipped, [gtypes.Content(role="user", parts=parts)]


@attrs.define
class CachePlan:
    """Result of ``greycloud.cacheWorkspace`` with ``dryRun: true``: nothing is created."""

    folder: str
    model: str
    files: list[str]
    skipped: list[SkippedFile]
    bytes: int
    tokens: int
    minimum_tokens: int | None
    cacheable: bool
    ttl_seconds: int
    storage_cost_per_hour: float
    storage_cost_for_ttl: float
    currency: str = "USD"
    dry_run: bool = True


async def plan_cache(
    ls: GreyCloudLanguageServer, request: CacheWorkspaceArgs, root: Path
) -> CachePlan:
    """What ``greycloud.cacheWorkspace`` would upload, and its estimated storage cost."""
    plan, _contents = await plan_with_contents(ls, request, root)
    return plan


async def plan_with_contents(
    ls: GreyCloudLanguageServer, request: CacheWorkspaceArgs, root: Path
) -> tuple[CachePlan, list[Any]]:
    """`plan_cache` and the contents it counted (to send them without a cache)."""
    from greycloud.cache import effective_min_tokens
    from greycloud.pricing import price_for

    settings = ls.settings.cache
    collected, skipped, contents = await collect_contents(request, root, settings)
    model = request.model or ls.model
    tokens = await ls.get_client().count_tokens(contents, model=model, fallback=True)
    minimum = effective_min_tokens(model, settings.min_tokens)  # 0: the API decides
    ttl = request.ttl_seconds or settings.ttl_seconds
    per_hour = tokens / 1_000_000 * price_for(model).storage_per_million_per_hour
    plan = CachePlan(
        folder=str(root),
        model=model,
        files=[rel for rel, _p, _t in collected.files],
        skipped=skipped,
        bytes=collected.total_bytes,
        tokens=int(tokens),
        minimum_tokens=minimum,
        cacheable=tokens >= minimum,
        ttl_seconds=ttl,
        storage_cost_per_hour=per_hour,
        storage_cost_for_ttl=per_hour * ttl / 3600,
    )
    return plan, contents
