"""What a quota holds right now, as data (`QuotaStatus`), JSON and one screen of text.

`VertexRateLimiter.status` (one process's limiter) and `RedisQuota.read_status`
(the state every process shares through Redis) both return a `QuotaStatus`;
``greycloud quota status`` and ``greycloud-lsp daemon status`` print them with
`quota_json` and `format_quotas`, so both commands show the same block.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from greycloud.quotas import QuotaKey

MAX_ROWS = 12
"""Quotas shown as text (one screen); the rest are counted in a last line."""


@dataclass(frozen=True)
class QuotaStatus:
    """One quota's use in the current window, what runs and what waits, and its limits.

    Limits are None where they are not known (Redis keeps the state, while each
    process brings its own limits). ``waiting_tokens``: what the waiters asked
    for (None when the source does not know).
    """

    requests: int
    """Requests in the window: in flight, or answered within the last ``period`` seconds."""
    tokens: int
    """Tokens charged in the window (estimates until the answers report usage)."""
    in_flight: int
    waiting: int
    waiting_tokens: int | None
    blocked_seconds: float = 0.0
    """No admission for this long yet: a 429 asked everyone to slow down."""
    period: float = 60.0
    rpm: int | None = None
    tpm: int | None = None
    max_concurrency: int | None = None
    tpm_counts: str | None = None
    source: str = "local"
    """``local`` (this process's limiter) or ``redis`` (the shared state)."""


def quota_json(key: QuotaKey, status: QuotaStatus) -> dict[str, Any]:
    """The camelCase JSON of one quota (``--json`` of both status commands)."""
    project, location, model = key
    return {
        "project": project,
        "location": location,
        "model": model,
        "source": status.source,
        "periodSeconds": status.period,
        "requests": status.requests,
        "tokens": status.tokens,
        "inFlight": status.in_flight,
        "waiting": status.waiting,
        "waitingTokens": status.waiting_tokens,
        "blockedSeconds": round(status.blocked_seconds, 3),
        "rpm": status.rpm,
        "tpm": status.tpm,
        "maxConcurrency": status.max_concurrency,
        "tpmCounts": status.tpm_counts,
    }


def _of(used: int, limit: int | None) -> str:
    return f"{used:,}" if limit is None else f"{used:,}/{limit:,}"


def format_quotas(quotas: Sequence[dict[str, Any]], title: str = "quotas") -> str:
    """Text for `quota_json` rows: a heading line, then one aligned line per quota."""
    if not quotas:
        return f"{title}: none"
    header = ("quota (project/location/model)", "requests", "tokens", "in flight", "waiting")
    rows = [header]
    for q in quotas[:MAX_ROWS]:
        waiting = f"{q['waiting']:,}"
        if q.get("waitingTokens") and q["waiting"]:
            waiting += f" ({q['waitingTokens']:,} tok)"
        if q.get("blockedSeconds"):
            waiting += f", held {q['blockedSeconds']:.0f} s"
        rows.append(
            (
                f"{q['project'] or '-'}/{q['location'] or '-'}/{q['model'] or '-'}",
                _of(q["requests"], q.get("rpm")),
                _of(q["tokens"], q.get("tpm")),
                _of(q["inFlight"], q.get("maxConcurrency")),
                waiting,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    first = quotas[0]
    kinds = sorted({q["tpmCounts"] for q in quotas if q.get("tpmCounts")})
    counted = f"tokens = {kinds[0]} tokens" if len(kinds) == 1 else "tokens as each quota counts"
    lines = [
        f"{title} ({first['source']}, window {first['periodSeconds']:g} s, {counted}; used/limit):"
    ]
    lines += [
        "  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    if len(quotas) > MAX_ROWS:
        lines.append(f"  ... and {len(quotas) - MAX_ROWS} more (--json lists all)")
    return "\n".join(lines)
