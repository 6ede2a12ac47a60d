"""`GreyCloudBatch`: Gemini batch prediction jobs with Cloud Storage input and output.

A job's input is a JSONL file in Cloud Storage, one request per line:
``{"key": "req-000001", "request": {...}}``. ``request`` is a Vertex REST
``GenerateContentRequest`` (contents, systemInstruction, generationConfig,
safetySettings, ...). The key is also stored as the request label
``greycloud-key``, because Vertex echoes the request back with each result but
does not keep the input order: :meth:`GreyCloudBatch.iter_batch_results` uses
it to pair each result with the request it answers.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from google.genai import _common, types
from google.genai import models as genai_models

from greycloud import retry
from greycloud._request import short_model_name
from greycloud.auth import client_from_config, credentials_from_config
from greycloud.cache import api_errors
from greycloud.config import GreyCloudConfig
from greycloud.errors import GreyCloudError
from greycloud.storage import (
    GcsPath,
    guess_mime_type,
    make_storage_client,
    parse_gs_uri,
    validate_bucket_name,
    validate_object_name,
    validate_prefix,
)

if TYPE_CHECKING:
    from google import genai
    from google.auth.credentials import Credentials
    from google.cloud import storage

logger = logging.getLogger(__name__)

KEY_LABEL = "greycloud-key"
PUBLISHER_PREFIX = "publishers/google/models/"
TERMINAL_STATES = frozenset(
    {
        types.JobState.JOB_STATE_SUCCEEDED,
        types.JobState.JOB_STATE_FAILED,
        types.JobState.JOB_STATE_CANCELLED,
        types.JobState.JOB_STATE_PARTIALLY_SUCCEEDED,
        types.JobState.JOB_STATE_EXPIRED,
    }
)
FAILED_STATES = frozenset(
    {
        types.JobState.JOB_STATE_FAILED,
        types.JobState.JOB_STATE_CANCELLED,
        types.JobState.JOB_STATE_EXPIRED,
    }
)
RESULT_STATES = frozenset(
    {types.JobState.JOB_STATE_SUCCEEDED, types.JobState.JOB_STATE_PARTIALLY_SUCCEEDED}
)
MAX_POLL_FAILURES = 5

BatchRequest = types.InlinedRequest | Mapping[str, Any]
FileSpec = str | os.PathLike | Mapping[str, Any]
JobRef = types.BatchJob | str


class BatchJobFailedError(GreyCloudError):
    """A batch job ended FAILED, CANCELLED or EXPIRED. ``job`` is its last state."""

    def __init__(self, message: str, *, job: types.BatchJob):
        super().__init__(message)
        self.job = job
        self.state = job.state


class BatchTimeoutError(GreyCloudError):
    """``monitor_batch_job`` gave up waiting; the job itself keeps running."""


@dataclass
class BatchResult:
    """One line of a job's output, paired with the request that produced it."""

    key: str | None
    index: int | None
    request: dict[str, Any]
    response: types.GenerateContentResponse | None
    error: str | None
    metadata: dict[str, str] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return self.error is None and self.response is not None

    @property
    def text(self) -> str | None:
        """The response text, or None for a failed request."""
        if self.response is None:
            return None
        try:
            return self.response.text
        except ValueError:
            return None


# -- request lines ------------------------------------------------------------


def publisher_model(model: str) -> str:
    """``publishers/google/models/NAME`` for a short name, ``models/NAME`` or a full path."""
    if not model or not isinstance(model, str):
        raise ValueError("A model name is required, e.g. gemini-2.5-flash.")
    if ".." in model or any(ch in model for ch in "?&# \\"):
        raise ValueError(f"Invalid model name {model!r}.")
    if model.startswith(("publishers/", "projects/")):
        return model
    if model.startswith("models/"):
        model = model[len("models/") :]
    if "/" in model:
        raise ValueError(
            f"Invalid model name {model!r}: use a short name such as gemini-2.5-flash "
            "or publishers/google/models/NAME."
        )
    return PUBLISHER_PREFIX + model


_REST_REQUEST_KEYS = frozenset(
    {"generationConfig", "systemInstruction", "safetySettings", "toolConfig", "cachedContent"}
)


def to_rest_request(api_client: Any, request: BatchRequest) -> tuple[dict[str, Any], str | None]:
    """A Vertex REST ``GenerateContentRequest`` dict and the request's model, if it names one.

    Accepts `types.InlinedRequest`, dicts of the same shape (``contents``,
    ``config``, ``model``, ``metadata``; snake_case or camelCase), and dicts
    that already are REST requests (with ``generationConfig`` etc.).
    """
    if isinstance(request, Mapping):
        data = dict(request)
        if _REST_REQUEST_KEYS & data.keys():
            model = data.pop("model", None)
            data.pop("metadata", None)
            if not data.get("contents"):
                raise ValueError("A batch request needs contents.")
            return json.loads(json.dumps(data)), model
        try:
            request = types.InlinedRequest.model_validate(data)
        except Exception as exc:
            raise ValueError(f"Not a valid batch request: {exc}") from None
    if not isinstance(request, types.InlinedRequest):
        raise TypeError(
            f"Batch requests must be types.InlinedRequest or dicts, not {type(request).__name__}."
        )
    if not request.contents:
        raise ValueError("A batch request needs contents.")
    params = types._GenerateContentParameters(
        model=request.model or "placeholder", contents=request.contents, config=request.config
    )
    # The SDK's own request converter, so every GenerateContentConfig field
    # (system instruction, safety settings, thinking config, tools...) is
    # written exactly as generate_content would send it.
    body = genai_models._GenerateContentParameters_to_vertex(api_client, params, None, params)
    for key in [k for k in body if k.startswith("_")] + ["config"]:
        body.pop(key, None)
    body = _common.encode_unserializable_types(_common.convert_to_dict(body))
    return body, request.model


def request_metadata(request: BatchRequest) -> dict[str, str]:
    if isinstance(request, types.InlinedRequest):
        return dict(request.metadata or {})
    if isinstance(request, Mapping):
        return {str(k): str(v) for k, v in dict(request.get("metadata") or {}).items()}
    return {}


def build_request_lines(
    api_client: Any, requests: Iterable[BatchRequest]
) -> tuple[list[dict[str, Any]], str | None]:
    """JSONL line objects for ``requests`` and the single model they name (if any)."""
    lines: list[dict[str, Any]] = []
    models: set[str] = set()
    seen: set[str] = set()
    for index, item in enumerate(requests):
        key: str | None = None
        source: Any = item
        if isinstance(item, Mapping) and "request" in item:
            key = str(item["key"]) if item.get("key") is not None else None
            source = item["request"]
        try:
            body, model = to_rest_request(api_client, source)
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"requests[{index}]: {exc}") from None
        if model:
            models.add(short_model_name(publisher_model(model)))
        key = key or f"req-{index + 1:06d}"
        if key in seen:
            raise ValueError(f"requests[{index}]: duplicate key {key!r}.")
        seen.add(key)
        labels = dict(body.get("labels") or {})
        labels[KEY_LABEL] = key
        body["labels"] = labels
        line: dict[str, Any] = {"key": key, "request": body}
        metadata = request_metadata(item)
        if metadata:
            line["metadata"] = metadata
        lines.append(line)
    if not lines:
        raise ValueError("No batch requests given.")
    if len(models) > 1:
        raise ValueError(
            f"All requests of one batch job must use the same model, got {sorted(models)}."
        )
    return lines, next(iter(models), None)


def line_key(line: Mapping[str, Any]) -> str | None:
    """The pairing key of an input or output line."""
    if line.get("key") is not None:
        return str(line["key"])
    request = line.get("request")
    if isinstance(request, Mapping):
        labels = request.get("labels")
        if isinstance(labels, Mapping) and labels.get(KEY_LABEL) is not None:
            return str(labels[KEY_LABEL])
    return None


def _canonical(request: Any) -> str:
    """A request as comparable text, without GreyCloud's own key label."""
    if isinstance(request, Mapping) and isinstance(request.get("labels"), Mapping):
        labels = {k: v for k, v in request["labels"].items() if k != KEY_LABEL}
        request = {k: v for k, v in request.items() if k != "labels"}
        if labels:
            request["labels"] = labels
    return json.dumps(request, sort_keys=True, separators=(",", ":"))


def _error_text(status: Any) -> str | None:
    if status in (None, "", {}):
        return None
    if isinstance(status, Mapping):
        message = status.get("message") or json.dumps(status)
        code = status.get("code")
        return f"{code}: {message}" if code is not None else str(message)
    return str(status)


def _parse_response(value: Any) -> types.GenerateContentResponse | None:
    if not isinstance(value, Mapping):
        return None
    converted = genai_models._GenerateContentResponse_from_vertex(dict(value))
    return types.GenerateContentResponse._from_response(response=converted, kwargs={})


# -- the client ---------------------------------------------------------------


class GreyCloudBatch:
    """Batch jobs and Cloud Storage uploads for one `GreyCloudConfig`.

    Batch calls go to ``config.batch_location``. The storage client is built
    with the same credentials object as the genai client.
    """

    def __init__(
        self,
        config: GreyCloudConfig | None = None,
        *,
        client: genai.Client | None = None,
        storage_client: storage.Client | None = None,
        credentials: Credentials | None = None,
    ) -> None:
        self.config = config if config is not None else GreyCloudConfig()
        self._credentials = credentials
        self._client = client
        self._storage_client = storage_client

    # -- clients ------------------------------------------------------------

    @property
    def credentials(self) -> Credentials | None:
        """The OAuth credentials shared by both clients (None in API-key mode)."""
        if self._credentials is None and not self.config.use_api_key:
            self._credentials = credentials_from_config(self.config)
        return self._credentials

    @property
    def client(self) -> genai.Client:
        """The genai client, pointed at ``config.batch_location``."""
        if self._client is None:
            config = self.config
            if config.batch_location and config.batch_location != config.location:
                config = config.replace(location=config.batch_location)
            self._client = client_from_config(config, credentials=self.credentials)
        return self._client

    @property
    def storage_client(self) -> storage.Client:
        """The Cloud Storage client (honours ``STORAGE_EMULATOR_HOST``)."""
        if self._storage_client is None:
            self._storage_client = make_storage_client(
                self.config.resolve_project_id(), self.credentials
            )
        return self._storage_client

    def close(self) -> None:
        """Close both clients' HTTP connections (jobs keep running)."""
        client, self._client = self._client, None
        storage_client, self._storage_client = self._storage_client, None
        if client is not None:
            client.close()
        if storage_client is not None:
            storage_client.close()

    def __enter__(self) -> GreyCloudBatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _bucket_name(self, bucket_name: str | None, *, batch: bool) -> str:
        name = (
            bucket_name
            or (self.config.batch_gcs_bucket if batch else None)
            or self.config.gcs_bucket
            or self.config.batch_gcs_bucket
        )
        if not name:
            what = "batch_gcs_bucket (BATCH_GCS_BUCKET)" if batch else "gcs_bucket (GCS_BUCKET)"
            raise ValueError(f"No Cloud Storage bucket: pass bucket_name or set {what}.")
        return validate_bucket_name(name)

    # -- uploads --------------------------------------------------------------

    def upload_file_to_gcs(
        self,
        local_path: str | os.PathLike,
        *,
        bucket_name: str | None = None,
        blob_name: str | None = None,
        content_type: str | None = None,
    ) -> str:
        """Upload one local file; returns its ``gs://`` URI.

        ``blob_name`` defaults to the file's name; the MIME type to a guess from it.
        """
        path = Path(local_path)
        if not path.is_file():
            raise ValueError(f"Not a file: {path}")
        bucket = self._bucket_name(bucket_name, batch=False)
        name = validate_object_name(blob_name or path.name)
        with _StorageErrors():
            blob = self.storage_client.bucket(bucket).blob(name)
            blob.upload_from_filename(str(path), content_type=content_type or guess_mime_type(name))
        return GcsPath(bucket, name).uri

    def upload_files_to_gcs(
        self,
        files: Iterable[FileSpec],
        bucket_name: str | None = None,
        prefix: str = "uploads",
    ) -> dict[str, str]:
        """Upload several files under ``prefix``; returns ``{name: gs_uri}``.

        Each item is a local path, or a dict with ``name`` and either ``content``
        (str or bytes) or ``path``, and optionally ``content_type``.
        """
        bucket = self._bucket_name(bucket_name, batch=False)
        folder = validate_prefix(prefix)
        uploaded: dict[str, str] = {}
        for index, item in enumerate(files):
            name, data, path, content_type = _file_spec(item, index)
            if name in uploaded:
                raise ValueError(f"files[{index}]: duplicate name {name!r}.")
            object_name = validate_object_name(f"{folder}/{name}" if folder else name)
            mime = content_type or guess_mime_type(name)
            with _StorageErrors():
                blob = self.storage_client.bucket(bucket).blob(object_name)
                if path is not None:
                    blob.upload_from_filename(str(path), content_type=mime)
                else:
                    blob.upload_from_string(data or b"", content_type=mime)
            uploaded[name] = GcsPath(bucket, object_name).uri
        return uploaded

    # -- jobs -----------------------------------------------------------------

    def create_batch_job(
        self,
        requests: Iterable[BatchRequest] | str,
        model: str | None = None,
        *,
        display_name: str | None = None,
        bucket_name: str | None = None,
        prefix: str = "greycloud-batch",
        output_uri: str | None = None,
    ) -> types.BatchJob:
        """Write ``requests`` as JSONL to Cloud Storage and start a batch job.

        ``requests`` is a list of `types.InlinedRequest` / dicts, or the
        ``gs://`` URI of an existing JSONL file. The model is ``model``, else the
        one the requests name, else ``config.model``. Input goes to
        ``gs://BUCKET/PREFIX/RUN/requests.jsonl`` and output, unless
        ``output_uri`` says otherwise (any bucket), to ``.../RUN/output``.
        """
        bucket = self._bucket_name(bucket_name, batch=True)
        run = GcsPath(bucket, validate_prefix(prefix)).child(_run_id())
        if isinstance(requests, str):
            input_uri = parse_gs_uri(requests).uri
            requests_model = None
        else:
            lines, requests_model = build_request_lines(self.client._api_client, requests)
            input_uri = self._write_jsonl(run.child("requests.jsonl"), lines)
        chosen = model or requests_model or self.config.model
        if not chosen:
            raise ValueError("No model: pass model= or set config.model.")
        if model and requests_model and short_model_name(publisher_model(model)) != requests_model:
            raise ValueError(
                f"model={model!r} differs from the model the requests name ({requests_model!r})."
            )
        dest = parse_gs_uri(output_uri).uri if output_uri else run.child("output").uri
        job_config = types.CreateBatchJobConfig(
            display_name=display_name or f"greycloud-{run.name.rsplit('/', 1)[-1]}", dest=dest
        )
        with api_errors(self.config):
            job = self.client.batches.create(
                model=publisher_model(chosen), src=input_uri, config=job_config
            )
        logger.info("created batch job %s (input %s, output %s)", job.name, input_uri, dest)
        return job

    def _write_jsonl(self, path: GcsPath, lines: list[dict[str, Any]]) -> str:
        with tempfile.TemporaryFile("w+b") as handle:
            for line in lines:
                handle.write(json.dumps(line, ensure_ascii=False).encode("utf-8") + b"\n")
            handle.seek(0)
            with _StorageErrors():
                blob = self.storage_client.bucket(path.bucket).blob(path.name)
                blob.upload_from_file(handle, content_type="application/jsonl", rewind=True)
        return path.uri

    def get_batch_job(self, job: JobRef) -> types.BatchJob:
        """The current state of ``job`` (a `BatchJob`, resource name or numeric id)."""
        with api_errors(self.config):
            return self.client.batches.get(name=_job_name(job))

    def list_batch_jobs(self, *, page_size: int = 50) -> list[types.BatchJob]:
        """Batch jobs in the project and batch location, newest first as the API returns."""
        with api_errors(self.config):
            return list(
                self.client.batches.list(config=types.ListBatchJobsConfig(page_size=page_size))
            )

    def cancel_batch_job(self, job: JobRef) -> None:
        """Ask Vertex to cancel ``job``; it then moves to a CANCELLED state."""
        with api_errors(self.config):
            self.client.batches.cancel(name=_job_name(job))

    def monitor_batch_job(
        self,
        job: JobRef,
        poll_interval: float | None = None,
        callback: Callable[[types.BatchJob], Any] | None = None,
        *,
        timeout: float | None = None,
        on_poll: Callable[[types.BatchJob], Any] | None = None,
        raise_on_failure: bool = True,
    ) -> types.BatchJob:
        """Poll ``job`` until it reaches a terminal state and return it.

        ``callback(job)`` runs whenever the state changes (and once at the
        start); ``on_poll(job)`` after every poll. A FAILED, CANCELLED or
        EXPIRED job raises `BatchJobFailedError` (unless ``raise_on_failure``
        is false); PARTIALLY_SUCCEEDED is returned with a warning. Transient
        polling errors are retried a few times. ``timeout`` (seconds) raises
        `BatchTimeoutError` while the job keeps running.
        """
        interval = self.config.batch_poll_interval if poll_interval is None else poll_interval
        if interval is None or interval < 0:
            raise ValueError(f"poll_interval={poll_interval!r} must be 0 or more.")
        started = time.monotonic()
        given = isinstance(job, types.BatchJob) and job.state is not None
        current = job if given else self._poll(job)
        previous: types.JobState | None = None
        while True:
            if current.state != previous:
                logger.info("batch job %s: %s", current.name, _state_name(current))
                previous = current.state
                if callback is not None:
                    callback(current)
            if on_poll is not None:
                on_poll(current)
            if current.state in TERMINAL_STATES:
                break
            if timeout is not None and time.monotonic() - started >= timeout:
                raise BatchTimeoutError(
                    f"Batch job {current.name} is still {_state_name(current)} after "
                    f"{timeout:g}s; it keeps running: monitor it again later."
                )
            time.sleep(interval)
            current = self._poll(current)
        return self._finish(current, raise_on_failure)

    def _poll(self, job: JobRef) -> types.BatchJob:
        name = _job_name(job)
        for attempt in range(1, MAX_POLL_FAILURES + 1):
            try:
                return self.client.batches.get(name=name)
            except Exception as exc:
                if retry.classify(exc) is not retry.ErrorKind.TRANSIENT or (
                    attempt == MAX_POLL_FAILURES
                ):
                    raise retry.translate(exc, sa_email=self.config.sa_email) from exc
                logger.warning("polling %s failed (%s); retrying", name, retry.describe(exc))
                time.sleep(min(2.0**attempt, 30.0))
        raise AssertionError("unreachable")

    def _finish(self, job: types.BatchJob, raise_on_failure: bool) -> types.BatchJob:
        if job.state == types.JobState.JOB_STATE_PARTIALLY_SUCCEEDED:
            logger.warning("batch job %s partially succeeded: %s", job.name, _stats(job))
        if job.state in FAILED_STATES and raise_on_failure:
            detail = job.error.message if job.error and job.error.message else "no details"
            raise BatchJobFailedError(
                f"Batch job {job.name} ended {_state_name(job)}: {detail}.", job=job
            )
        return job

    # -- results --------------------------------------------------------------

    def prediction_files(self, job: JobRef) -> list[str]:
        """``gs://`` URIs of the job's ``predictions*.jsonl`` files, under its own output URI."""
        return [GcsPath(b.bucket.name, b.name).uri for b in self._prediction_blobs(job)]

    def _prediction_blobs(self, job: JobRef) -> list[Any]:
        fresh = isinstance(job, types.BatchJob) and job.dest and job.state in RESULT_STATES
        current = job if fresh else self.get_batch_job(job)
        if current.state not in RESULT_STATES:
            raise GreyCloudError(
                f"Batch job {current.name} is {_state_name(current)}: it has no results "
                "to read (wait for it with monitor_batch_job)."
            )
        places: list[str] = []
        if current.output_info and current.output_info.gcs_output_directory:
            places.append(current.output_info.gcs_output_directory)
        if current.dest and current.dest.gcs_uri:
            places.append(current.dest.gcs_uri)
        if not places:
            raise GreyCloudError(f"Batch job {current.name} has no Cloud Storage output URI.")
        for place in places:
            where = parse_gs_uri(place)
            prefix = f"{where.name}/" if where.name else ""
            with _StorageErrors():
                blobs = list(self.storage_client.list_blobs(where.bucket, prefix=prefix))
            found = [b for b in blobs if _is_prediction_file(b.name)]
            if found:
                return sorted(found, key=lambda b: b.name)
        raise GreyCloudError(
            f"No predictions*.jsonl found under {', '.join(places)} for batch job {current.name}."
        )

    def download_batch_results(self, job: JobRef, output_file: str | os.PathLike) -> str:
        """Stream the job's predictions to ``output_file`` (JSONL); returns its path.

        Several prediction files are concatenated. The file is written next to
        its final place and renamed at the end, so a failed download leaves no
        half-written result.
        """
        target = Path(output_file).expanduser()
        if target.is_dir():
            raise ValueError(f"{target} is a directory: give a file name for the results.")
        blobs = self._prediction_blobs(job)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(fd, "w+b") as handle:
                for blob in blobs:
                    with _StorageErrors():
                        blob.download_to_file(handle)
                    if handle.tell() > 0:
                        handle.seek(-1, os.SEEK_END)
                        if handle.read(1) != b"\n":
                            handle.write(b"\n")
            os.replace(temp_name, target)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        return str(target)

    def iter_batch_results(self, job: JobRef, *, ordered: bool = False) -> Iterator[BatchResult]:
        """Yield each result with the request it answers.

        Pairing uses the key in each line (``key``, else the ``greycloud-key``
        label, else an exact match of the echoed request). Results come in
        output order, or in input order with ``ordered=True`` (which holds them
        all in memory).
        """
        current = job if isinstance(job, types.BatchJob) and job.src else self.get_batch_job(job)
        inputs = self._read_inputs(current)
        by_request = {_canonical(line.get("request")): key for key, (_, line) in inputs.items()}
        results = self._iter_outputs(current, inputs, by_request)
        if not ordered:
            yield from results
            return
        collected = list(results)
        collected.sort(key=lambda r: (r.index is None, r.index or 0))
        yield from collected

    def _read_inputs(self, job: types.BatchJob) -> dict[str, tuple[int, dict[str, Any]]]:
        uris = list(job.src.gcs_uri or []) if job.src else []
        inputs: dict[str, tuple[int, dict[str, Any]]] = {}
        position = 0
        for uri in uris:
            where = parse_gs_uri(uri)
            with _StorageErrors():
                reader = self.storage_client.bucket(where.bucket).blob(where.name).open("r")
            with reader:
                for raw in reader:
                    if not raw.strip():
                        continue
                    line = json.loads(raw)
                    key = line_key(line) or f"#{position}"
                    inputs[key] = (position, line)
                    position += 1
        return inputs

    def _iter_outputs(
        self,
        job: types.BatchJob,
        inputs: dict[str, tuple[int, dict[str, Any]]],
        by_request: dict[str, str],
    ) -> Iterator[BatchResult]:
        for blob in self._prediction_blobs(job):
            with _StorageErrors():
                reader = blob.open("r")
            with reader:
                for raw in reader:
                    if raw.strip():
                        yield _pair(json.loads(raw), inputs, by_request)


def _pair(
    line: dict[str, Any],
    inputs: dict[str, tuple[int, dict[str, Any]]],
    by_request: dict[str, str],
) -> BatchResult:
    key = line_key(line)
    echoed = line.get("request")
    if key is None and echoed is not None:
        key = by_request.get(_canonical(echoed))
    index, original = inputs.get(key, (None, {})) if key is not None else (None, {})
    request = original.get("request") or echoed or {}
    response = _parse_response(line.get("response"))
    error = _error_text(line.get("status"))
    if error is None and response is None:
        error = "no response in the output line"
    return BatchResult(
        key=key,
        index=index,
        request=request,
        response=response,
        error=error,
        metadata=dict(original.get("metadata") or line.get("metadata") or {}),
        raw=line,
    )


class _StorageErrors:
    """Turn Cloud Storage failures into `GreyCloudError` with the reason."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool:
        if exc is None:
            return False
        from google.api_core import exceptions as gexc

        if isinstance(exc, gexc.NotFound):
            raise GreyCloudError(f"Cloud Storage: not found ({exc.message}).") from exc
        if isinstance(exc, gexc.Forbidden):
            raise GreyCloudError(
                f"Cloud Storage: permission denied ({exc.message}); the account needs "
                "roles/storage.objectAdmin on the bucket."
            ) from exc
        if isinstance(exc, gexc.GoogleAPICallError):
            raise GreyCloudError(f"Cloud Storage request failed ({exc.message}).") from exc
        return False


def _file_spec(item: FileSpec, index: int) -> tuple[str, bytes | None, Path | None, str | None]:
    if isinstance(item, (str, os.PathLike)):
        path = Path(item)
        if not path.is_file():
            raise ValueError(f"files[{index}]: not a file: {path}")
        return path.name, None, path, None
    if not isinstance(item, Mapping):
        raise TypeError(f"files[{index}] must be a path or a dict with 'name' and 'content'.")
    path_value = item.get("path")
    name = item.get("name") or (Path(path_value).name if path_value else None)
    if not name:
        raise ValueError(f"files[{index}] needs a 'name'.")
    validate_object_name(str(name))
    content_type = item.get("content_type")
    if path_value is not None:
        path = Path(path_value)
        if not path.is_file():
            raise ValueError(f"files[{index}]: not a file: {path}")
        return str(name), None, path, content_type
    content = item.get("content")
    if isinstance(content, str):
        return str(name), content.encode("utf-8"), None, content_type
    if isinstance(content, (bytes, bytearray)):
        return str(name), bytes(content), None, content_type
    raise ValueError(f"files[{index}] needs 'content' (str or bytes) or 'path'.")


def _is_prediction_file(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return base.startswith("predictions") and base.endswith(".jsonl")


def _run_id() -> str:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{uuid.uuid4().hex[:8]}"


def _job_name(job: JobRef) -> str:
    name = job.name if isinstance(job, types.BatchJob) else job
    if not name or not isinstance(name, str):
        raise ValueError("A batch job (or its name) is required.")
    return name.strip()


def _state_name(job: types.BatchJob) -> str:
    state = job.state
    if state is None:
        return "UNKNOWN"
    return str(getattr(state, "value", state)).removeprefix("JOB_STATE_")


def _stats(job: types.BatchJob) -> str:
    stats = job.completion_stats
    if stats is None:
        return "no completion stats"
    return (
        f"{stats.successful_count or 0} succeeded, {stats.failed_count or 0} failed, "
        f"{stats.incomplete_count or 0} incomplete"
    )


def job_summary(job: types.BatchJob) -> str:
    """One line: name, state and completion counts."""
    return f"{job.name}: {_state_name(job)} ({_stats(job)})"
