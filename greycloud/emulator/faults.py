"""Applying queued faults to a request."""

from __future__ import annotations

import asyncio

from aiohttp import web

from greycloud.emulator.errors import error_response
from greycloud.emulator.state import Fault


def drop_connection(request: web.Request) -> web.Response:
    """Close the TCP connection; the returned response is never written."""
    if request.transport is not None:
        request.transport.close()
    return web.Response()


async def fault_response(request: web.Request, fault: Fault | None) -> web.StreamResponse | None:
    """Sleep for the fault's delay, then return its error/drop response.

    Returns ``None`` when the request should proceed normally (no fault, a
    pure delay, or a ``cut_after_chunks`` fault the stream handler applies).
    """
    if fault is None:
        return None
    if fault.delay > 0:
        await asyncio.sleep(fault.delay)
    if fault.drop_connection:
        return drop_connection(request)
    if fault.cut_after_chunks is not None or fault.status is None or fault.status == 200:
        return None
    message = fault.message or f"Injected fault: HTTP {fault.status}"
    return error_response(fault.status, message, retry_after=fault.retry_after)
