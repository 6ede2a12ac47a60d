"""Creating and completing request-log entries."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from greycloud.emulator.state import EmulatorState, Fault, RecordedRequest


def begin_record(
    request: web.Request,
    state: EmulatorState,
    *,
    action: str | None,
    body: Any,
    model: str | None = None,
    project: str | None = None,
) -> RecordedRequest:
    """Log a request at arrival (status filled in by :func:`finish_record`)."""
    entry = RecordedRequest(
        time=time.monotonic(),
        method=request.method,
        path=request.path_qs,
        action=action,
        model=model,
        headers=dict(request.headers),
        body=body,
        project=project,
    )
    return state.record(entry)


def finish_record(
    record: RecordedRequest, response: web.StreamResponse, fault: Fault | None
) -> web.StreamResponse:
    """Stamp status, end time and fault label on ``record``; return ``response``.

    Status is 0 for a dropped connection and 499 when the client went away.
    """
    if fault is not None and fault.drop_connection:
        record.status = 0
    elif record.client_disconnected:
        record.status = 499
    else:
        record.status = response.status
    record.fault = fault.describe() if fault is not None else None
    if record.end_time is None:
        record.end_time = time.monotonic()
    return response
