"""Google-style JSON error responses."""

from __future__ import annotations

from aiohttp import web

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

    def __init__(self, code: int, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after


def status_name(code: int) -> str:
    """Canonical gRPC-style status name for an HTTP code."""
    if code in STATUS_NAMES:
        return STATUS_NAMES[code]
    return "FAILED_PRECONDITION" if 400 <= code < 500 else "UNKNOWN"


def format_retry_after(seconds: float) -> str:
    """Render a Retry-After value (integer seconds when whole)."""
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


def error_response(code: int, message: str, *, retry_after: float | None = None) -> web.Response:
    """``{"error": {"code", "message", "status"}}`` with an optional Retry-After."""
    headers = {"Retry-After": format_retry_after(retry_after)} if retry_after is not None else None
    payload = {"error": {"code": code, "message": message, "status": status_name(code)}}
    return web.json_response(payload, status=code, headers=headers)


def from_exception(exc: ApiError) -> web.Response:
    """Response for a raised :class:`ApiError`."""
    return error_response(exc.code, exc.message, retry_after=exc.retry_after)
