"""``generateContent``, ``streamGenerateContent`` and ``countTokens`` routes (and the
embedding actions, answered by `greycloud.emulator.embeddings`)."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from greycloud.emulator.auth_routes import authenticate
from greycloud.emulator.cache_routes import resolve_cached_content
from greycloud.emulator.context import get_state
from greycloud.emulator.embeddings import EMBED_ACTIONS, embed_answer
from greycloud.emulator.errors import ApiError, error_response, from_exception, quota_error
from greycloud.emulator.faults import drop_connection, fault_response, stream_error_event
from greycloud.emulator.recording import begin_record, finish_record
from greycloud.emulator.resources import read_json_body
from greycloud.emulator.responses import (
    build_answer,
    count_payload,
    generate_payload,
    stream_payloads,
)
from greycloud.emulator.state import MODEL_ACTIONS, EmulatorState, Fault, RecordedRequest
from greycloud.emulator.validation import (
    check_model,
    parse_body,
    validate_count,
    validate_generate,
)
from greycloud.quotas import tpm_tokens

EXPRESS_PROJECT = "express-mode"
GONE_POLL_SECONDS = 0.01
"""How often a request waiting out the latency looks whether its client went away."""


@dataclass(frozen=True)
class ModelCall:
    """Where a model request was addressed."""

    project: str | None
    location: str | None
    publisher: str
    model: str
    action: str

    @property
    def resource(self) -> str:
        """Full publisher-model resource name."""
        tail = f"publishers/{self.publisher}/models/{self.model}"
        if self.project is None:
            return tail
        return f"projects/{self.project}/locations/{self.location}/{tail}"


def parse_call(request: web.Request) -> ModelCall:
    """Read project/location/model/action from the matched route."""
    info = request.match_info
    model, _, action = info["model_action"].rpartition(":")
    return ModelCall(
        project=info.get("project"),
        location=info.get("location"),
        publisher=info.get("publisher", "google"),
        model=model or info["model_action"],
        action=action if model else "",
    )


async def _stream(
    request: web.Request,
    state: EmulatorState,
    events: list[dict[str, Any]],
    record: RecordedRequest,
    fault: Fault | None,
) -> web.StreamResponse:
    cut_after = fault.cut_after_chunks if fault is not None else None
    error_after = fault.stream_error_after_chunks if fault is not None else None
    response = web.StreamResponse(
        status=200, headers={"Content-Type": "text/event-stream; charset=utf-8"}
    )
    try:
        await response.prepare(request)  # the client may have gone during a delay
        record.status = 200
        for i, event in enumerate(events):
            if cut_after is not None and i >= cut_after:
                return drop_connection(request)
            if fault is not None and error_after is not None and i >= error_after:
                await response.write(stream_error_event(fault, model=record.model or ""))
                record.end_time = time.monotonic()
                await response.write_eof()
                return response
            if i and state.stream_chunk_delay > 0:
                await asyncio.sleep(state.stream_chunk_delay)
            await response.write(b"data: " + json.dumps(event).encode() + b"\r\n\r\n")
            if record.first_chunk_time is None:
                record.first_chunk_time = time.monotonic()
        if cut_after is not None:
            return drop_connection(request)
        record.end_time = time.monotonic()  # before the client can see the end
        await response.write_eof()
    except ConnectionResetError:
        record.client_disconnected = True
    return response


async def _wait_unless_gone(request: web.Request, seconds: float) -> bool:
    """Sleep ``seconds`` (one timer: no drift); False as soon as the client closes the
    connection (looked at every `GONE_POLL_SECONDS`)."""

    async def gone() -> None:
        while True:
            await asyncio.sleep(GONE_POLL_SECONDS)
            if request.transport is None or request.transport.is_closing():
                return

    sleeper = asyncio.ensure_future(asyncio.sleep(seconds))
    watcher = asyncio.ensure_future(gone())
    try:
        await asyncio.wait({sleeper, watcher}, return_when=asyncio.FIRST_COMPLETED)
        return not watcher.done()
    finally:
        sleeper.cancel()
        watcher.cancel()


async def _answer(
    request: web.Request,
    state: EmulatorState,
    call: ModelCall,
    body: dict[str, Any],
    record: RecordedRequest,
    fault: Fault | None,
) -> web.StreamResponse:
    """Validate, charge quota, wait, and produce the success response."""
    if call.action == "countTokens":
        validate_count(body)
        check_model(call.model, call.resource)
        payload, _ = count_payload(body)
        charged, answer = 0, None
    else:
        validate_generate(body)
        check_model(call.model, call.resource)
        merged, cached_tokens = resolve_cached_content(state, body, call.model)
        answer = build_answer(call.model, merged, cached_tokens)
        payload = generate_payload(answer)
        charged = tpm_tokens(
            state.quota.tpm_counts,
            prompt=answer.prompt_tokens,
            total=answer.total_tokens,
            cached=answer.cached_tokens,
        )
    over = state.charge_quota(call.project or EXPRESS_PROJECT, charged, now=record.time)
    if over is not None:
        message, details = quota_error(
            over.kind, limit=over.limit, model=call.model, retry_delay=over.retry_delay
        )
        raise ApiError(429, message, retry_after=state.quota_retry_after, details=details)
    if state.latency > 0 and not await _wait_unless_gone(request, state.latency):
        record.client_disconnected = True  # cancelled while "thinking": logged as 499
        return web.Response()  # never written: the connection is gone
    if call.action == "streamGenerateContent" and answer is not None:
        events = stream_payloads(answer, state.stream_chunk_tokens)
        return await _stream(request, state, events, record, fault)
    return web.json_response(payload)


async def model_action(request: web.Request) -> web.StreamResponse:
    """Entry point for every ``models/{model}:{action}`` POST."""
    state = get_state(request)
    call = parse_call(request)
    raw, body = await read_json_body(request)
    record = begin_record(
        request, state, action=call.action, body=body, model=call.model, project=call.project
    )
    if call.action not in MODEL_ACTIONS:
        message = f"Method {call.action or '(none)'} not found for {call.resource}."
        return finish_record(record, error_response(404, message), None)
    fault: Fault | None = None
    try:
        record.principal = authenticate(request, state)
        fault = state.take_fault(call.action)
        response = await fault_response(request, fault, model=call.model)
        if response is None and call.action in EMBED_ACTIONS:
            project = call.project or EXPRESS_PROJECT
            response = await embed_answer(state, call, parse_body(raw), record, project=project)
        if response is None:
            response = await _answer(request, state, call, parse_body(raw), record, fault)
    except ApiError as exc:
        response = from_exception(exc)
    return finish_record(record, response, fault)


def register_routes(app: web.Application, state: EmulatorState) -> None:
    """Add the model routes for v1 and v1beta1, regional and express mode."""
    del state
    version = "/{version:v1|v1beta1}"
    models = "publishers/{publisher}/models/{model_action}"
    app.router.add_post(
        f"{version}/projects/{{project}}/locations/{{location}}/{models}", model_action
    )
    app.router.add_post(f"{version}/{models}", model_action)
