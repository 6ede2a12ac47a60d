"""Running a batch job: advancing its state and writing its predictions.

A job moves PENDING -> RUNNING -> a terminal state. It advances one step
after ``polls_per_step`` GETs of the job, or after ``seconds_per_step`` seconds,
whichever comes first (see :class:`~greycloud.emulator.batch_jobs.BatchSettings`;
tests make it fast). On the last step it runs: the input JSONL is read from
Cloud Storage and ``predictions.jsonl`` is written under
``OUTPUT_PREFIX/prediction-model-TIME/``, one line per request with the request,
its response (the same deterministic answer ``generateContent`` gives) or an
error ``status``.

Cloud Storage is only ever reached through ``STORAGE_EMULATOR_HOST`` (or
``BatchSettings.storage_host``): without one the job fails instead of calling
Google.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import time
from typing import Any

from greycloud.emulator.batch_jobs import (
    FAILED,
    PARTIAL,
    PENDING,
    RUNNING,
    SUCCEEDED,
    TERMINAL,
    BatchJobEntry,
    BatchSettings,
    BatchStore,
    utc_now,
)
from greycloud.emulator.cache_routes import rfc3339
from greycloud.emulator.errors import ApiError, error_payload
from greycloud.emulator.responses import build_answer, generate_payload
from greycloud.emulator.validation import validate_generate
from greycloud.storage import is_gs_uri, parse_gs_uri

logger = logging.getLogger(__name__)


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
    return f"Bad Request: {json.dumps(error_payload(code, message))}"


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
                if not is_gs_uri(uri) or not isinstance(uri, str):
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
    out["processed_time"] = rfc3339(utc_now())
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
        folder = f"prediction-model-{job.create_time.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}"
        directory = parse_gs_uri(job.output_prefix).child(folder)
        body = "".join(json.dumps(o) + "\n" for o in outputs)
        predictions = directory.child("predictions.jsonl")
        client.bucket(directory.bucket).blob(predictions.name).upload_from_string(
            body, content_type="application/jsonl"
        )
        job.output_directory = directory.uri
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


async def advance(store: BatchStore, job: BatchJobEntry, *, polled: bool) -> None:
    """Move ``job`` one step when enough polls or time have passed."""
    settings = store.settings
    with store.lock:
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
            job.start_time = job.update_time = utc_now()
            return
        job.running = True
    failure = store.take_failure()
    final: str
    error: dict[str, Any] | None
    if failure is not None:
        final, error = FAILED, {"code": 13, "message": failure}
    else:
        final, error = await asyncio.to_thread(run_job, job, settings)
    if settings.final_state and failure is None:
        final = settings.final_state
    with store.lock:
        job.running = False
        if job.state in TERMINAL:  # cancelled meanwhile
            return
        job.state, job.error = final, error
        job.end_time = job.update_time = utc_now()
