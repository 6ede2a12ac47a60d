"""A workspace cache as the server keeps it: `OwnedCache`, its record for the next
daemon, and the file times that tell when its files changed."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import attrs


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
    project: str | None = None
    location: str | None = None
    connection: dict[str, Any] | None = None
    """How to reach it without its session (``persistence.connection_of``): no secrets."""

    def to_record(self) -> dict[str, Any]:
        """What the next daemon needs to know of it (JSON; see ``persistence.py``)."""
        return {
            "name": self.name,
            "project": self.project,
            "location": self.location,
            "model": self.model,
            "folder": self.folder,
            "displayName": self.display_name,
            "tokens": self.tokens,
            "ttlSeconds": self.ttl_seconds,
            "expireTime": iso_time(self.expire_time),
            "stale": self.stale,
            "staleReason": self.stale_reason,
            "files": self.files,
            "mtimes": self.mtimes,
            "connection": self.connection,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> OwnedCache:
        """The cache `to_record` wrote (raises ``KeyError``/``TypeError``/``ValueError`` if bad)."""
        expire = record.get("expireTime")
        files = record.get("files") or {}
        mtimes = record.get("mtimes") or {}
        if not isinstance(files, dict) or not isinstance(mtimes, dict):
            raise TypeError("files and mtimes must be objects")
        return cls(
            name=str(record["name"]),
            display_name=record.get("displayName"),
            model=str(record["model"]),
            ttl_seconds=int(record["ttlSeconds"]),
            expire_time=dt.datetime.fromisoformat(expire) if expire else None,
            files={str(k): str(v) for k, v in files.items()},
            mtimes={str(k): float(v) for k, v in mtimes.items()},
            stale=bool(record.get("stale")),
            stale_reason=str(record.get("staleReason") or ""),
            folder=record.get("folder"),
            tokens=record.get("tokens"),
            project=record.get("project"),
            location=record.get("location"),
            connection=record.get("connection"),
        )

    def seconds_left(self, now: dt.datetime | None = None) -> int | None:
        """Whole seconds until it expires (None: no expiry known)."""
        if self.expire_time is None:
            return None
        now = now or dt.datetime.now(dt.timezone.utc)
        return int((aware(self.expire_time) - now).total_seconds())

    def expired(self, now: dt.datetime | None = None) -> bool:
        """Whether its expiry time has come (it is gone upstream)."""
        now = now or dt.datetime.now(dt.timezone.utc)
        return self.expire_time is not None and aware(self.expire_time) <= now


def iso_time(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.isoformat().replace("+00:00", "Z")


def tokens_of(cached: Any) -> int | None:
    from greycloud.cache import cache_tokens

    return cache_tokens(cached)


def mtimes_of(paths: Iterable[str]) -> dict[str, float]:
    """The modification times of ``paths`` that exist (blocking: run it in a thread)."""
    out = {}
    for path in paths:
        try:
            out[path] = Path(path).stat().st_mtime
        except OSError:
            continue
    return out


def aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
