"""``batchPredictionJobs`` routes: create, get, list, cancel, delete.

The jobs and their settings live in :mod:`greycloud.emulator.batch_jobs`; how a
job advances and what it writes, in :mod:`greycloud.emulator.batch_runner`.
``POST /_emulator/batch`` changes the settings from another process.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from greycloud.emulator.batch_jobs import (
    CANCELLED,
    PENDING,
    TERMINAL,
    BatchJobEntry,
    BatchStore,
    batch_store,
    utc_now,
)
from greycloud.emulator.batch_runner import advance
from greycloud.emulator.context import get_state
from greycloud.emulator.errors import ApiError, error_response
from greycloud.emulator.resources import resource_route
from greycloud.emulator.state import EmulatorState
from greycloud.emulator.validation import MISSING_MODEL
from greycloud.storage import parse_gs_uri


def _parent(request: web.Request) -> str:
    info = request.match_info
    return f"projects/{info['project']}/locations/{info['location']}"


def _job(store: BatchStore, request: web.Request) -> BatchJobEntry:
    job_id = request.match_info["job_id"]
    with store.lock:
        job = store.jobs.get(job_id)
    if job is None or not job.name.startswith(_parent(request) + "/"):
        raise ApiError(
            404,
            f"BatchPredictionJob {_parent(request)}/batchPredictionJobs/{job_id} does not exist.",
        )
    return job


def _gcs_field(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ApiError(400, f"{what} is required and must be a gs:// URI.")
    try:
        parse_gs_uri(value)
    except ValueError as exc:
        raise ApiError(400, f"{what}: {str(exc).rstrip('.')}.") from None
    return value


async def _create(request: web.Request, body: dict[str, Any]) -> web.Response:
    store = batch_store(get_state(request))
    model = body.get("model")
    if not isinstance(model, str) or "/models/" not in model:
        raise ApiError(400, "model must be publishers/google/models/MODEL.")
    if model.rsplit("/", 1)[-1] == MISSING_MODEL:
        raise ApiError(404, f"Publisher Model `{model}` was not found.")
    source = body.get("inputConfig") or {}
    if source.get("instancesFormat", "jsonl") != "jsonl":
        raise ApiError(400, "Only the jsonl instancesFormat is supported by the emulator.")
    uris = (source.get("gcsSource") or {}).get("uris")
    if isinstance(uris, str):
        uris = [uris]
    if not isinstance(uris, list) or not uris:
        raise ApiError(400, "inputConfig.gcsSource.uris is required.")
    uris = [_gcs_field(u, "inputConfig.gcsSource.uris") for u in uris]
    destination = body.get("outputConfig") or {}
    prefix = _gcs_field(
        (destination.get("gcsDestination") or {}).get("outputUriPrefix"),
        "outputConfig.gcsDestination.outputUriPrefix",
    )
    job_id = store.new_id()
    now = utc_now()
    job = BatchJobEntry(
        job_id=job_id,
        name=f"{_parent(request)}/batchPredictionJobs/{job_id}",
        display_name=str(body.get("displayName") or f"batch-{job_id}"),
        model=model,
        input_uris=uris,
        output_prefix=prefix,
        state=PENDING,
        create_time=now,
        update_time=now,
    )
    with store.lock:
        store.jobs[job_id] = job
    return web.json_response(job.to_json())


async def _get(request: web.Request, body: dict[str, Any]) -> web.Response:
    del body
    store = batch_store(get_state(request))
    job = _job(store, request)
    await advance(store, job, polled=True)
    return web.json_response(job.to_json())


async def _list(request: web.Request, body: dict[str, Any]) -> web.Response:
    del body
    store = batch_store(get_state(request))
    parent = _parent(request) + "/"
    with store.lock:
        jobs = [j for j in store.jobs.values() if j.name.startswith(parent)]
    for job in jobs:
        await advance(store, job, polled=False)
    jobs.sort(key=lambda j: int(j.job_id), reverse=True)
    try:
        size = max(1, int(request.query.get("pageSize") or 100))
        start = int(request.query.get("pageToken") or 0)
    except ValueError:
        raise ApiError(400, "pageSize and pageToken must be integers.") from None
    payload: dict[str, Any] = {
        "batchPredictionJobs": [j.to_json() for j in jobs[start : start + size]]
    }
    if start + size < len(jobs):
        payload["nextPageToken"] = str(start + size)
    return web.json_response(payload)


async def _cancel(request: web.Request, body: dict[str, Any]) -> web.Response:
    del body
    store = batch_store(get_state(request))
    job = _job(store, request)
    with store.lock:
        if job.state in TERMINAL:
            raise ApiError(400, f"Job {job.name} is already in terminal state {job.state}.")
        job.state = CANCELLED
        job.error = {"code": 1, "message": "CANCELED"}
        job.end_time = job.update_time = utc_now()
    return web.json_response({})


async def _delete(request: web.Request, body: dict[str, Any]) -> web.Response:
    del body
    store = batch_store(get_state(request))
    job = _job(store, request)
    with store.lock:
        store.jobs.pop(job.job_id, None)
    return web.json_response(
        {"name": f"{job.name}/operations/delete", "done": True, "response": {}}
    )


async def _configure(request: web.Request) -> web.Response:
    """``POST /_emulator/batch`` with settings fields (for out-of-process tests)."""
    try:
        body = await request.json() if await request.read() else {}
        batch_store(get_state(request)).configure(**body)
    except (TypeError, ValueError) as exc:
        return error_response(400, str(exc))
    return web.json_response({"ok": True})


def _route(action: str, work: Any) -> Any:
    return resource_route(action, lambda _state, request, body: work(request, body))


def register_routes(app: web.Application, state: EmulatorState) -> None:
    """Add the ``batchPredictionJobs`` routes (v1 and v1beta1) and ``/_emulator/batch``."""
    batch_store(state)
    base = "/{version:v1|v1beta1}/projects/{project}/locations/{location}/batchPredictionJobs"
    item = base + r"/{job_id:\d+}"
    app.router.add_post(base, _route("batchPredictionJobs.create", _create))
    app.router.add_get(base, _route("batchPredictionJobs.list", _list))
    app.router.add_get(item, _route("batchPredictionJobs.get", _get))
    app.router.add_delete(item, _route("batchPredictionJobs.delete", _delete))
    app.router.add_post(item + ":cancel", _route("batchPredictionJobs.cancel", _cancel))
    app.router.add_post("/_emulator/batch", _configure)
