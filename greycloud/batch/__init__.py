"""`GreyCloudBatch`: Gemini batch prediction jobs with Cloud Storage input and output.

One module per job:

- `greycloud.batch.requests`: requests in any accepted shape as Vertex JSONL lines,
  each with a pairing key (also stored as the request label ``greycloud-key``);
- `greycloud.batch.uploads`: Cloud Storage writes (files and the JSONL input);
- `greycloud.batch.jobs`: job states, waiting for a job (status reads use the
  shared retry policy), failure and timeout errors;
- `greycloud.batch.results`: prediction files, downloads, results paired with
  their requests;
- `greycloud.batch.client`: `GreyCloudBatch`, which wires them together.

Everything public is importable from ``greycloud.batch`` directly.
"""

from __future__ import annotations

from greycloud.batch.client import GreyCloudBatch
from greycloud.batch.jobs import (
    FAILED_STATES,
    MAX_POLL_FAILURES,
    POLL_RETRY_POLICY,
    RESULT_STATES,
    TERMINAL_STATES,
    BatchJobFailedError,
    BatchTimeoutError,
    JobRef,
    job_summary,
)
from greycloud.batch.requests import (
    KEY_LABEL,
    PUBLISHER_PREFIX,
    BatchRequest,
    build_request_lines,
    line_key,
    publisher_model,
    request_metadata,
    to_rest_request,
)
from greycloud.batch.results import BatchResult
from greycloud.batch.uploads import FileSpec

__all__ = [
    "FAILED_STATES",
    "KEY_LABEL",
    "MAX_POLL_FAILURES",
    "POLL_RETRY_POLICY",
    "PUBLISHER_PREFIX",
    "RESULT_STATES",
    "TERMINAL_STATES",
    "BatchJobFailedError",
    "BatchRequest",
    "BatchResult",
    "BatchTimeoutError",
    "FileSpec",
    "GreyCloudBatch",
    "JobRef",
    "build_request_lines",
    "job_summary",
    "line_key",
    "publisher_model",
    "request_metadata",
    "to_rest_request",
]
