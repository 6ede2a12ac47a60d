"""Reading a shared-quota URL: its Redis part, GreyCloud's options, a printable form.

URL options (removed before the URL reaches redis-py)::

    redis://[[user]:password@]host[:port][/db]?prefix=greycloud:&lease_seconds=30
        &timeout=1&fallback_share=1
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

SCHEMES = ("redis", "rediss", "unix")
DEFAULT_PREFIX = "greycloud:"
DEFAULT_LEASE_SECONDS = 30.0
DEFAULT_TIMEOUT = 1.0


def redact_url(url: str) -> str:
    """``url`` without its password or query (safe for logs and errors)."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return urlunsplit(parts._replace(query=""))
        netloc = f"{quote(parts.username or '', safe='')}:***@{parts.hostname or ''}"
        if parts.port:
            netloc += f":{parts.port}"
        return urlunsplit(parts._replace(netloc=netloc, query=""))
    except ValueError:
        return "<unparseable quota URL>"


@dataclass(frozen=True)
class QuotaOptions:
    """Settings parsed from a quota URL; ``connect_url`` keeps only redis-py's part."""

    connect_url: str
    prefix: str = DEFAULT_PREFIX
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    timeout: float = DEFAULT_TIMEOUT
    fallback_share: float = 1.0

    @classmethod
    def parse(cls, url: str) -> QuotaOptions:
        """Split ``url``; bad values raise ``ValueError`` naming the option (never the password)."""
        shown = redact_url(url)
        parts = urlsplit(url)
        if parts.scheme not in SCHEMES:
            raise ValueError(
                f"quota_url={shown!r} is not a Redis URL: use redis://host:6379/0, "
                "rediss://... (TLS) or unix:///path/to/redis.sock."
            )
        ours: dict[str, Any] = {}
        theirs = []
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            if name in ("lease_seconds", "timeout", "fallback_share"):
                try:
                    ours[name] = float(value)
                except ValueError:
                    message = f"quota_url={shown!r}: option {name}={value!r} is not a number."
                    raise ValueError(message) from None
            elif name == "prefix":
                ours[name] = value
            else:
                theirs.append((name, value))
        options = cls(urlunsplit(parts._replace(query=urlencode(theirs))), **ours)
        if options.lease_seconds <= 0 or options.timeout <= 0:
            raise ValueError(
                f"quota_url={shown!r}: options lease_seconds and timeout must be greater than 0."
            )
        if not 0 < options.fallback_share <= 1:
            raise ValueError(
                f"quota_url={shown!r}: option fallback_share={options.fallback_share} must be "
                "in (0, 1]: "
                "the share of the quota one process uses while Redis is unreachable."
            )
        return options
