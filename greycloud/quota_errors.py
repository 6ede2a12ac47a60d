"""Reading the quota error Google actually sends.

A 429 ``RESOURCE_EXHAUSTED`` from Google APIs carries its explanation in the
body, not in headers::

    {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "...",
               "details": [
                 {"@type": "type.googleapis.com/google.rpc.QuotaFailure",
                  "violations": [{"quotaId": "...PerMinute...", "quotaMetric": "...",
                                  "quotaDimensions": {...}, "quotaValue": "60"}]},
                 {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "32.5s"}]}}

google-genai keeps that whole JSON in ``APIError.details`` (for a 429 inside a
stream body too). This module turns it into a `QuotaDetails`; when the body
has no ``details``, a "Please retry in 38.9s" in the message gives the delay.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

QUOTA_FAILURE_TYPE = "type.googleapis.com/google.rpc.QuotaFailure"
RETRY_INFO_TYPE = "type.googleapis.com/google.rpc.RetryInfo"

_DAILY_MARKERS = ("perday", "daily")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s)?\s*$")
_RETRY_IN_MESSAGE = re.compile(r"retry in\s+(\d+(?:\.\d+)?)\s*(ms|s)\b", re.IGNORECASE)
_LIMIT_ZERO = re.compile(r"\blimit:\s*0(?![\d.])")


@dataclass(frozen=True)
class QuotaViolation:
    """One ``google.rpc.QuotaFailure`` violation."""

    quota_id: str | None = None
    quota_metric: str | None = None
    quota_dimensions: dict[str, str] = field(default_factory=dict)
    quota_value: str | None = None
    description: str | None = None

    @property
    def per_day(self) -> bool:
        """Whether this quota resets daily (its id says ``PerDay`` or ``Daily``)."""
        quota_id = (self.quota_id or "").lower()
        return any(marker in quota_id for marker in _DAILY_MARKERS)

    def label(self) -> str:
        """The quota as a person would name it: id, metric and limit."""
        name = self.quota_id or self.quota_metric or "an unnamed quota"
        parts = [name]
        if self.quota_metric and self.quota_id:
            parts.append(f"metric {self.quota_metric}")
        if self.quota_value is not None:
            parts.append(f"limit {self.quota_value}")
        if self.quota_dimensions:
            dims = ", ".join(f"{k}={v}" for k, v in sorted(self.quota_dimensions.items()))
            parts.append(dims)
        return f"{parts[0]} ({'; '.join(parts[1:])})" if len(parts) > 1 else parts[0]


@dataclass(frozen=True)
class QuotaDetails:
    """What a 429 body says: the violated quotas and how long to wait."""

    violations: tuple[QuotaViolation, ...] = ()
    retry_delay: float | None = None  # seconds: RetryInfo, else the message's "retry in"
    limit_zero: bool = False  # the message says "limit: 0": this quota allows nothing
    message: str | None = None

    @property
    def quota_id(self) -> str | None:
        """The first violation's quota id."""
        return self.violations[0].quota_id if self.violations else None

    @property
    def quota_metric(self) -> str | None:
        """The first violation's metric."""
        return self.violations[0].quota_metric if self.violations else None

    @property
    def quota_value(self) -> str | None:
        """The first violation's limit."""
        return self.violations[0].quota_value if self.violations else None

    @property
    def daily(self) -> tuple[QuotaViolation, ...]:
        """Violated quotas that reset daily."""
        return tuple(v for v in self.violations if v.per_day)


def parse_duration(raw: Any) -> float | None:
    """Seconds in a protobuf JSON duration (``"32.5s"``), or None if malformed."""
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return max(0.0, float(raw))
    if isinstance(raw, Mapping):  # {"seconds": 32, "nanos": 500000000}
        try:
            return max(0.0, float(raw.get("seconds", 0)) + float(raw.get("nanos", 0)) / 1e9)
        except (TypeError, ValueError):
            return None
    if not isinstance(raw, str):
        return None
    match = _DURATION.match(raw)
    if match is None:
        return None
    value = float(match.group(1))
    return value / 1000 if match.group(2) == "ms" else value


def error_body(payload: Any) -> Mapping[str, Any] | None:
    """The ``error`` object of a Google error payload (wrapped or not)."""
    if isinstance(payload, list) and len(payload) == 1:
        payload = payload[0]
    if not isinstance(payload, Mapping):
        return None
    inner = payload.get("error")
    return inner if isinstance(inner, Mapping) else payload


def _violations(entry: Mapping[str, Any]) -> list[QuotaViolation]:
    found = []
    for raw in entry.get("violations") or ():
        if not isinstance(raw, Mapping):
            continue
        dims = raw.get("quotaDimensions")
        value = raw.get("quotaValue")
        found.append(
            QuotaViolation(
                quota_id=_str_or_none(raw.get("quotaId")),
                quota_metric=_str_or_none(raw.get("quotaMetric")),
                quota_dimensions={str(k): str(v) for k, v in dims.items()}
                if isinstance(dims, Mapping)
                else {},
                quota_value=None if value is None else str(value),
                description=_str_or_none(raw.get("description")),
            )
        )
    return found


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def delay_in_message(message: str | None) -> float | None:
    """The delay of a "Please retry in 38.9s" message, if it has one."""
    match = _RETRY_IN_MESSAGE.search(message or "")
    if match is None:
        return None
    value = float(match.group(1))
    return value / 1000 if match.group(2).lower() == "ms" else value


def parse_error_payload(payload: Any) -> QuotaDetails | None:
    """`QuotaDetails` from a Google error JSON, or None if it says nothing about quota."""
    body = error_body(payload)
    if body is None:
        return None
    message = body.get("message") if isinstance(body.get("message"), str) else None
    violations: list[QuotaViolation] = []
    delays: list[float] = []
    for entry in body.get("details") or ():
        if not isinstance(entry, Mapping):
            continue
        kind = entry.get("@type")
        if kind == QUOTA_FAILURE_TYPE:
            violations.extend(_violations(entry))
        elif kind == RETRY_INFO_TYPE:
            delay = parse_duration(entry.get("retryDelay"))
            if delay is not None:
                delays.append(delay)
    in_message = delay_in_message(message)
    if in_message is not None:
        delays.append(in_message)  # "whichever is longer" also between body and message
    limit_zero = bool(_LIMIT_ZERO.search(message or ""))
    if not violations and not delays and not limit_zero:
        return None
    return QuotaDetails(
        violations=tuple(violations),
        retry_delay=max(delays) if delays else None,
        limit_zero=limit_zero,
        message=message,
    )


def quota_details(exc: BaseException) -> QuotaDetails | None:
    """`QuotaDetails` of a google-genai ``APIError`` (``exc.details`` holds the body)."""
    return parse_error_payload(getattr(exc, "details", None))
