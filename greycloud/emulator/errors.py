"""Google-style JSON error responses, including the quota 429 Google really sends."""

from __future__ import annotations

import math
from typing import Any

from aiohttp import web

RATE_LIMITS_URL = "https://ai.google.dev/gemini-api/docs/rate-limits"
# Quota shapes the emulator can answer with: (quotaId, quotaMetric) per kind.
QUOTA_SHAPES: dict[str, tuple[str, str]] = {
    "per_minute": (
        "GenerateRequestsPerMinutePerProjectPerModel",
        "generativelanguage.googleapis.com/generate_content_requests",
    ),
    "per_day": (
        "GenerateRequestsPerDayPerProjectPerModel",
        "generativelanguage.googleapis.com/generate_content_requests",
    ),
    "tokens_per_minute": (
        "GenerateContentInputTokensPerModelPerMinute",
        "generativelanguage.googleapis.com/generate_content_input_token_count",
    ),
    # The emulator's own name for a quota set to count every token (tpm_counts="total").
    "total_tokens_per_minute": (
        "GenerateContentTotalTokensPerModelPerMinute",
        "generativelanguage.googleapis.com/generate_content_total_token_count",
    ),
}

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


class ApiError(Exception):
    """Raised by handlers; turned into a Google JSON error response."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        retry_after: float | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.details = details


def status_name(code: int) -> str:
    """Canonical gRPC-style status name for an HTTP code."""
    if code in STATUS_NAMES:
        return STATUS_NAMES[code]
    return "FAILED_PRECONDITION" if 400 <= code < 500 else "UNKNOWN"


def format_retry_after(seconds: float) -> str:
    """Render a Retry-After value (integer seconds when whole)."""
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


def error_payload(
    code: int, message: str, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """``{"error": {"code", "message", "status"[, "details"]}}``."""
    error: dict[str, Any] = {"code": code, "message": message, "status": status_name(code)}
    if details:
        error["details"] = details
    return {"error": error}


def error_response(
    code: int,
    message: str,
    *,
    retry_after: float | None = None,
    details: list[dict[str, Any]] | None = None,
) -> web.Response:
    """A Google JSON error with an optional Retry-After header and ``details``."""
    headers = {"Retry-After": format_retry_after(retry_after)} if retry_after is not None else None
    return web.json_response(error_payload(code, message, details), status=code, headers=headers)


def from_exception(exc: ApiError) -> web.Response:
    """Response for a raised :class:`ApiError`."""
    return error_response(exc.code, exc.message, retry_after=exc.retry_after, details=exc.details)


def format_duration(seconds: float) -> str:
    """A protobuf JSON duration, rounded up to the millisecond (``"32.5s"``)."""
    millis = math.ceil(max(0.0, seconds) * 1000)
    return f"{millis / 1000:g}s"


def quota_error(
    kind: str, *, limit: int, model: str, retry_delay: float | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """Message and ``details`` of a Gemini-API-shaped 429 for quota ``kind``.

    ``kind`` is one of `QUOTA_SHAPES`. With ``retry_delay`` the body carries a
    ``google.rpc.RetryInfo`` and the message ends "Please retry in ...".
    """
    if kind not in QUOTA_SHAPES:
        raise ValueError(f"quota={kind!r} is not a quota shape: use one of {sorted(QUOTA_SHAPES)}")
    quota_id, metric = QUOTA_SHAPES[kind]
    message = (
        "You exceeded your current quota, please check your plan and billing details. "
        f"For more information on this error, head to: {RATE_LIMITS_URL}.\n"
        f"* Quota exceeded for metric: {metric}, limit: {limit}, model: {model}"
    )
    details: list[dict[str, Any]] = [
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [
                {
                    "quotaMetric": metric,
                    "quotaId": quota_id,
                    "quotaDimensions": {"location": "global", "model": model},
                    "quotaValue": str(limit),
                }
            ],
        },
        {
            "@type": "type.googleapis.com/google.rpc.Help",
            "links": [
                {"description": "Learn more about Gemini API quotas", "url": RATE_LIMITS_URL}
            ],
        },
    ]
    if retry_delay is not None:
        message += f"\nPlease retry in {format_duration(retry_delay)}."
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                "retryDelay": format_duration(retry_delay),
            }
        )
    return message, details
