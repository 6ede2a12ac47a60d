"""Request plumbing shared by the emulator's route modules.

Every API route reads an optional JSON body, records the request, checks the
caller's credentials, runs its work and records the answer. `resource_route`
does all of that for the resource collections (cachedContents,
batchPredictionJobs), applying a queued fault named after the route's action
(e.g. ``cachedContents.create``); the model routes use `read_json_body`
directly because they also stream.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from greycloud.emulator.auth_routes import authenticate
from greycloud.emulator.context import get_state
from greycloud.emulator.errors import ApiError, from_exception
from greycloud.emulator.faults import fault_response
from greycloud.emulator.recording import begin_record, finish_record
from greycloud.emulator.state import EmulatorState

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Work = Callable[
    [EmulatorState, web.Request, dict[str, Any]],
    web.StreamResponse | Awaitable[web.StreamResponse],
]


async def read_json_body(request: web.Request) -> tuple[bytes, Any]:
    """The raw body and its JSON value (None when empty or not JSON)."""
    raw = await request.read()
    try:
        return raw, json.loads(raw) if raw else None
    except ValueError:
        return raw, None


def resource_route(action: str, work: Work) -> Handler:
    """An aiohttp handler that records, authenticates and runs ``work``."""

    async def handler(request: web.Request) -> web.StreamResponse:
        state = get_state(request)
        raw, body = await read_json_body(request)
        record = begin_record(
            request, state, action=action, body=body, project=request.match_info.get("project")
        )
        fault = state.take_fault(action)
        if (faulted := await fault_response(request, fault)) is not None:
            return finish_record(record, faulted, fault)
        try:
            record.principal = authenticate(request, state)
            if raw and not isinstance(body, dict):
                raise ApiError(400, "Invalid JSON payload received. Expected a JSON object.")
            response = work(state, request, body or {})
            if inspect.isawaitable(response):
                response = await response
        except ApiError as exc:
            response = from_exception(exc)
        return finish_record(record, response, fault)

    return handler
