"""``batchPredictionJobs`` routes: create, get, list, cancel, delete.

A job moves PENDING -> RUNNING -> a terminal state. It advances one step
after ``polls_per_step`` GETs of the job, or after ``seconds_per_step`` seconds,
whichever comes first (see :class:`BatchSettings`; tests make it fast). On the
last step it runs: the input JSONL is read from Cloud Storage and
``predictions.jsonl`` is written under ``OUTPUT_PREFIX/prediction-model-TIME/``,
one line per request with the request, its response (the same deterministic
answer ``generateContent`` gives) or an error ``status``.

Cloud Storage is only ever reached through ``STORAGE_EMULATOR_HOST`` (or
``BatchSettings.storage_host``): without one the job fails instead of calling
Google. Test hooks on :class:`BatchSettings`: ``fail_next`` makes the next job
fail, ``shuffle_output`` writes results out of order, ``final_state`` forces the
terminal state (e.g. ``JOB_STATE_EXPIRED``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import logging
import os
import random
import threading
import time
from dataclasses import dataclass, field, fields
from typing import Any

from aiohttp import web

from greycloud.emulator.cache_routes import rfc3339
from greycloud.emulator.context import get_state
from greycloud.emulator.errors import ApiError, error_response, status_name
from greycloud.emulator.resources import resource_route
from greycloud.emulator.responses import build_answer, generate_payload
from greycloud.emulator.state import EmulatorState
from greycloud.emulator.validation import MISSING_MODEL, validate_generate
from greycloud.storage import GcsPath, is_gs_uri, parse_gs_uri

logger = logging.getLogger(__name__)

PENDING = "JOB_STATE_PENDING"
RUNNING = "JOB_STATE_RUNNING"
SUCCEEDED = "JOB_STATE_SUCCEEDED"
FAILED = "JOB_STATE_FAILED"
CANCELLED = "JOB_STATE_CANCELLED"
PARTIAL = "JOB_STATE_PARTIALLY_SUCCEEDED"
EXPIRED = "JOB_STATE_EXPIRED"
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED, PARTIAL, EXPIRED})
GRPC_CODES = {400: 3, 404: 5, 403: 7, 429: 8, 500: 13, 503: 14}


@dataclass
class BatchSettings:
    """How jobs advance and which faults to inject."""

    polls_per_step: int = 1
    seconds_per_step: float | None = None
    fail_next: str | None = None
    shuffle_output: bool = False
    final_state: str | None = None
    storage_host: str | None = None


@dataclass
class BatchJobEntry:
    """One batch prediction job."""

    job_id: str
    name: str
    display_name: str
    model: str
    input_uris: list[str]
    output_prefix: str
    state: str
    create_time: dt.datetime
    update_time: dt.datetime
    start_time: dt.datetime | None = None
    end_time: dt.datetime | None = None
    output_directory: str | None = None
    error: dict[str, Any] | None = None
    stats: dict[str, int] | None = None
    polls: int = 0
    running: bool = False
    step_started: float = field(default_factory=time.monotonic)

    def to_json(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "name": self.name,
            "displayName": self.display_name,
            "model": self.model,
            "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": self.input_uris}},
            "outputConfig": {
                "predictionsFormat": "jsonl",
                "gcsDestination": {"outputUriPrefix": self.output_prefix},
            },
            "state": self.state,
            "createTime": rfc3339(self.create_time),
            "updateTime": rfc3339(self.update_time),
        }
        if self.start_time:
            payload["startTime"] = rfc3339(self.start_time)
        if self.end_time:
            payload["endTime"] = rfc3339(self.end_time)
        if self.output_directory:
            payload["outputInfo"] = {"gcsOutputDirectory": self.output_directory}
        if self.error:
            payload["error"] = self.error
        if self.stats is not None:
            payload["completionStats"] = {k: str(v) for k, v in self.stats.items()}
        return payload


@dataclass
class BatchStore:
    """Jobs and settings; kept on the emulator state as ``state.extensions['batch_jobs']``."""

    settings: BatchSettings = field(default_factory=BatchSettings)
    jobs: dict[str, BatchJobEntry] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1000001), repr=False)

    def configure(self, **changes: Any) -> None:
        """Change settings by name (unknown names raise ``TypeError``)."""
        known = {f.name for f in fields(BatchSettings)}
        unknown = set(changes) - known
        if unknown:
            raise TypeError(f"unknown batch settings {sorted(unknown)}; known: {sorted(known)}")
        with self._lock:
            for key, value in changes.items():
                setattr(self.settings, key, value)

    def reset(self) -> None:
        with self._lock:
            self.settings = BatchSettings()
            self.jobs.clear()

    def new_id(self) -> str:
        with self._lock:
            return str(next(self._ids))

    def take_failure(self) -> str | None:
        with self._lock:
            message, self.settings.fail_next = self.settings.fail_next, None
            return message


def batch_store(state: EmulatorState) -> BatchStore:
    """The state's :class:`BatchStore` (created on first use)."""
    return state.extensions.setdefault("batch_jobs", BatchStore())


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


# -- running a job ------------------------------------------------------------


def _storage_client(settings: BatchSettings) -> Any:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    host = settings.storage_host or os.environ.get("STORAGE_EMULATOR_HOST")
    if not host:
        raise RuntimeError(
            "the emulator reads batch input only from a Cloud Storage emulator: "
            "set STORAGE_EMULATOR_HOST"
        )
    return storage.Client(
        project="emulator",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": host},
    )


def _error_status(code: int, message: str) -> str:
    payload = {"error": {"code": code, "message": message, "status": status_name(code)}}
    return f"Bad Request: {json.dumps(payload)}"


class _FileChecker:
    """Per-request check that ``fileData`` objects exist in Cloud Storage."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.known: dict[str, bool] = {}

    def missing(self, request: dict[str, Any]) -> str | None:
        for content in request.get("contents") or []:
            for part in (content or {}).get("parts") or []:
                data = (part or {}).get("fileData") or (part or {}).get("file_data") or {}
                uri = data.get("fileUri") or data.get("file_uri")
                if not is_gs_uri(uri):
                    continue
                if uri not in self.known:
                    self.known[uri] = self._exists(uri)
                if not self.known[uri]:
                    return uri
        return None

    def _exists(self, uri: str) -> bool:
        try:
            where = parse_gs_uri(uri)
        except ValueError:
            return False
        return bool(where.name) and self.client.bucket(where.bucket).blob(where.name).exists()


def _answer_line(
    line: dict[str, Any], model: str, checker: _FileChecker
) -> tuple[dict[str, Any], bool]:
    request = line.get("request")
    out = {k: v for k, v in line.items() if k != "request"}
    out["request"] = request
    out["processed_time"] = rfc3339(_now())
    try:
        if not isinstance(request, dict):
            raise ApiError(400, "Each line needs a 'request' object.")
        validate_generate(request)
        missing = checker.missing(request)
        if missing:
            raise ApiError(400, f"Cannot fetch content from the provided URL: {missing}.")
        answer = build_answer(model, request)
    except ApiError as exc:
        out["status"] = _error_status(exc.code, exc.message)
        return out, False
    out["status"] = ""
    out["response"] = generate_payload(answer)
    return out, True


def run_job(job: BatchJobEntry, settings: BatchSettings) -> tuple[str, dict[str, Any] | None]:
    """Read the input, write predictions; return the terminal state and error (blocking)."""
    try:
        client = _storage_client(settings)
        checker = _FileChecker(client)
        model = job.model.rsplit("/", 1)[-1]
        outputs: list[dict[str, Any]] = []
        ok = 0
        for uri in job.input_uris:
            where = parse_gs_uri(uri)
            blob = client.bucket(where.bucket).blob(where.name)
            if not blob.exists():
                return FAILED, {"code": 5, "message": f"Input file not found: {uri}"}
            for number, raw in enumerate(blob.download_as_text().splitlines(), 1):
                if not raw.strip():
                    continue
                try:
                    line = json.loads(raw)
                except ValueError:
                    return FAILED, {"code": 3, "message": f"{uri} line {number} is not JSON"}
                if not isinstance(line, dict):
                    return FAILED, {"code": 3, "message": f"{uri} line {number} is not an object"}
                result, good = _answer_line(line, model, checker)
                outputs.append(result)
                ok += good
        if settings.shuffle_output:
            random.Random(job.job_id).shuffle(outputs)
        output = parse_gs_uri(job.output_prefix)
        out_bucket, out_prefix = output.bucket, output.name
        folder = f"prediction-model-{job.create_time.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}"
        directory = f"{out_prefix}/{folder}" if out_prefix else folder
        body = "".join(json.dumps(o) + "\n" for o in outputs)
        client.bucket(out_bucket).blob(f"{directory}/predictions.jsonl").upload_from_string(
            body, content_type="application/jsonl"
        )
        job.output_directory = GcsPath(out_bucket, directory).uri
        job.stats = {
            "successfulCount": ok,
            "failedCount": len(outputs) - ok,
            "incompleteCount": 0,
        }
    except Exception as exc:
        logger.exception("batch job %s failed", job.name)
        return FAILED, {"code": 13, "message": f"Batch job failed: {exc}"}
    if outputs and ok == 0:
        return FAILED, {"code": 3, "message": "Every request in the batch failed."}
    return (SUCCEEDED if ok == len(outputs) else PARTIAL), None


async def _advance(store: BatchStore, job: BatchJobEntry, *, polled: bool) -> None:
    """Move ``job`` one step when enough polls or time have passed."""
    settings = store.settings
    with store._lock:
        if job.state in TERMINAL or job.running:
            return
        if polled:
            job.polls += 1
        by_polls = settings.polls_per_step > 0 and job.polls >= settings.polls_per_step
        by_time = (
            settings.seconds_per_step is not None
            and time.monotonic() - job.step_started >= settings.seconds_per_step
        )
        if not (by_polls or by_time):
            return
        job.polls = 0
        job.step_started = time.monotonic()
        if job.state == PENDING:
            job.state = RUNNING
            job.start_time = job.update_time = _now()
            return
        job.running = True
    failure = store.take_failure()
    if failure is not None:
        final, error = FAILED, {"code": 13, "message": failure}
    else:
        final, error = await asyncio.to_thread(run_job, job, settings)
    if settings.final_state and failure is None:
        final = settings.final_state
    with store._lock:
        job.running = False
        if job.state in TERMINAL:  # cancelled meanwhile
            return
        job.state, job.error = final, error
        job.end_time = job.update_time = _now()


# -- handlers -----------------------------------------------------------------


def _parent(request: web.Request) -> str:
    info = request.match_info
    return f"projects/{info['project']}/locations/{info['location']}"


def _job(store: BatchStore, request: web.Request) -> BatchJobEntry:
    job_id = request.match_info["job_id"]
    with store._lock:
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
    now = _now()
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
    with store._lock:
        store.jobs[job_id] = job
    return web.json_response(job.to_json())


async def _get(request: web.Request, body: dict[str, Any]) -> web.Response:
    del body
    store = batch_store(get_state(request))
    job = _job(store, request)
    await _advance(store, job, polled=True)
    return web.json_response(job.to_json())


async def _list(request: web.Request, body: dict[str, Any]) -> web.Response:
    del body
    store = batch_store(get_state(request))
    parent = _parent(request) + "/"
    with store._lock:
        jobs = [j for j in store.jobs.values() if j.name.startswith(parent)]
    for job in jobs:
        await _advance(store, job, polled=False)
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
    with store._lock:
        if job.state in TERMINAL:
            raise ApiError(400, f"Job {job.name} is already in terminal state {job.state}.")
        job.state = CANCELLED
        job.error = {"code": 1, "message": "CANCELED"}
        job.end_time = job.update_time = _now()
    return web.json_response({})


async def _delete(request: web.Request, body: dict[str, Any]) -> web.Response:
    del body
    store = batch_store(get_state(request))
    job = _job(store, request)
    with store._lock:
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
