"""`GreyCloudBatch`: the batch client, wiring requests, uploads, jobs and results together."""

from __future__ import annotations

import datetime as dt
import logging
import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from google.genai import types

from greycloud import _genai_compat, retry
from greycloud._request import short_model_name
from greycloud.auth import client_from_config, credentials_from_config
from greycloud.batch import jobs, results, uploads
from greycloud.batch.jobs import POLL_RETRY_POLICY, JobRef
from greycloud.batch.requests import BatchRequest, build_request_lines, publisher_model
from greycloud.batch.results import BatchResult
from greycloud.batch.uploads import FileSpec
from greycloud.cache import api_errors
from greycloud.config import GreyCloudConfig
from greycloud.rules import NON_NEGATIVE
from greycloud.storage import (
    GcsPath,
    make_storage_client,
    parse_gs_uri,
    validate_bucket_name,
    validate_prefix,
)

if TYPE_CHECKING:
    from google import genai
    from google.auth.credentials import Credentials
    from google.cloud import storage

logger = logging.getLogger("greycloud.batch")


class GreyCloudBatch:
    """Batch jobs and Cloud Storage uploads for one `GreyCloudConfig`.

    Batch calls go to ``config.batch_location``. The storage client is built
    with the same credentials object as the genai client. Job status reads
    retry transient failures under ``poll_retry_policy`` (the shared
    `greycloud.retry.RetryPolicy`; default: 5 attempts, about 2-16 s apart).
    """

    def __init__(
        self,
        config: GreyCloudConfig | None = None,
        *,
        client: genai.Client | None = None,
        storage_client: storage.Client | None = None,
        credentials: Credentials | None = None,
        poll_retry_policy: retry.RetryPolicy | None = None,
    ) -> None:
        self.config = config if config is not None else GreyCloudConfig()
        self.poll_retry_policy = poll_retry_policy or POLL_RETRY_POLICY
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
        local_path: str | os.PathLike[str],
        *,
        bucket_name: str | None = None,
        blob_name: str | None = None,
        content_type: str | None = None,
    ) -> str:
        """Upload one local file; returns its ``gs://`` URI.

        ``blob_name`` defaults to the file's name; the MIME type to a guess from it.
        """
        path = uploads.local_file(local_path)
        bucket = self._bucket_name(bucket_name, batch=False)
        return uploads.upload_file(self.storage_client, path, bucket, blob_name, content_type)

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
        return uploads.upload_files(self.storage_client, files, bucket, folder)

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
            api_client = _genai_compat.api_client(self.client)
            lines, requests_model = build_request_lines(api_client, requests)
            input_uri = uploads.write_jsonl(self.storage_client, run.child("requests.jsonl"), lines)
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

    def get_batch_job(self, job: JobRef) -> types.BatchJob:
        """The current state of ``job`` (a `BatchJob`, resource name or numeric id)."""
        with api_errors(self.config):
            return self.client.batches.get(name=jobs.job_name(job))

    def list_batch_jobs(self, *, page_size: int = 50) -> list[types.BatchJob]:
        """Batch jobs in the project and batch location, newest first as the API returns."""
        with api_errors(self.config):
            return list(
                self.client.batches.list(config=types.ListBatchJobsConfig(page_size=page_size))
            )

    def cancel_batch_job(self, job: JobRef) -> None:
        """Ask Vertex to cancel ``job``; it then moves to a CANCELLED state."""
        with api_errors(self.config):
            self.client.batches.cancel(name=jobs.job_name(job))

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
        polling errors are retried under ``poll_retry_policy``. ``timeout``
        (seconds) raises `BatchTimeoutError` while the job keeps running.
        """
        interval = self.config.batch_poll_interval if poll_interval is None else poll_interval
        NON_NEGATIVE.check("poll_interval", interval)
        assert interval is not None  # GreyCloudConfig always fills batch_poll_interval
        done = jobs.wait_for_job(
            self._read_job, job, interval, callback=callback, on_poll=on_poll, timeout=timeout
        )
        return jobs.check_outcome(done, raise_on_failure)

    def _read_job(self, job: JobRef) -> types.BatchJob:
        return jobs.read_job(
            self.client, job, policy=self.poll_retry_policy, sa_email=self.config.sa_email
        )

    # -- results --------------------------------------------------------------

    def prediction_files(self, job: JobRef) -> list[str]:
        """``gs://`` URIs of the job's ``predictions*.jsonl`` files, under its own output URI."""
        return [GcsPath(b.bucket.name, b.name).uri for b in self._prediction_blobs(job)]

    def _prediction_blobs(self, job: JobRef) -> list[Any]:
        if isinstance(job, types.BatchJob) and job.dest and job.state in jobs.RESULT_STATES:
            current = job
        else:
            current = self.get_batch_job(job)
        return results.prediction_blobs(self.storage_client, current)

    def download_batch_results(self, job: JobRef, output_file: str | os.PathLike[str]) -> str:
        """Stream the job's predictions to ``output_file`` (JSONL); returns its path.

        Several prediction files are concatenated. The file is written next to
        its final place and renamed at the end, so a failed download leaves no
        half-written result.
        """
        target = results.result_path(output_file)
        return results.download(self._prediction_blobs(job), target)

    def iter_batch_results(self, job: JobRef, *, ordered: bool = False) -> Iterator[BatchResult]:
        """Yield each result with the request it answers.

        Pairing uses the key in each line (``key``, else the ``greycloud-key``
        label, else an exact match of the echoed request). Results come in
        output order, or in input order with ``ordered=True`` (which holds them
        all in memory).
        """
        current = job if isinstance(job, types.BatchJob) and job.src else self.get_batch_job(job)
        inputs = results.read_inputs(self.storage_client, current)
        found = results.iter_results(self._prediction_blobs(current), inputs)
        if not ordered:
            yield from found
            return
        collected = list(found)
        collected.sort(key=lambda r: (r.index is None, r.index or 0))
        yield from collected


def _run_id() -> str:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{uuid.uuid4().hex[:8]}"
