"""Applying queued faults to a request."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from greycloud.emulator.errors import error_payload, error_response, quota_error
from greycloud.emulator.state import Fault


def drop_connection(request: web.Request) -> web.Response:
    """Close the TCP connection; the returned response is never written."""
    if request.transport is not None:
        request.transport.close()
    return web.Response()


async def fault_response(
    request: web.Request, fault: Fault | None, *, model: str = ""
) -> web.StreamResponse | None:
    """Sleep for the fault's delay, then return its error/drop response (``model``: named
    in a quota error).

    Returns ``None`` when the request should proceed normally (no fault, a
    pure delay, or a ``cut_after_chunks`` fault the stream handler applies).
    """
    if fault is None:
        return None
    if fault.delay > 0:
        await asyncio.sleep(fault.delay)
    if fault.drop_connection:
        return drop_connection(request)
    if fault.cut_after_chunks is not None or fault.stream_error_after_chunks is not None:
        return None  # the stream handler applies it
    if fault.status is None or fault.status == 200:
        return None
    message, details = fault_error(fault, model=model)
    return error_response(fault.status, message, retry_after=fault.retry_after, details=details)


def fault_error(fault: Fault, *, model: str) -> tuple[str, list[dict[str, Any]] | None]:
    """The message and ``details`` of a fault's error (Google's quota shape if asked)."""
    details = None
    message = f"Injected fault: HTTP {fault.status}"
    if fault.quota is not None:
        message, details = quota_error(
            fault.quota, limit=fault.quota_value, model=model, retry_delay=fault.retry_delay
        )
    return fault.message or message, details


def stream_error_event(fault: Fault, *, model: str) -> bytes:
    """A fault's error as Google writes it into a stream body: raw JSON lines, no ``data:``."""
    message, details = fault_error(fault, model=model)
    payload = error_payload(fault.status or 500, message, details)
    return b"\r\n" + json.dumps(payload, indent=2).encode() + b"\r\n"
