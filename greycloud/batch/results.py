"""Batch output: finding a job's prediction files and pairing each result with its request."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from google.genai import types

from greycloud import _genai_compat
from greycloud.batch.jobs import RESULT_STATES, state_name
from greycloud.batch.requests import canonical_request, line_key
from greycloud.batch.uploads import StorageErrors
from greycloud.errors import GreyCloudError
from greycloud.storage import parse_gs_uri

if TYPE_CHECKING:
    from google.cloud import storage

Inputs = dict[str, tuple[int, dict[str, Any]]]
"""Input lines by key: (position in the input, line)."""


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


def prediction_blobs(client: storage.Client, job: types.BatchJob) -> list[Any]:
    """The ``predictions*.jsonl`` blobs of a finished ``job``, in name order."""
    if job.state not in RESULT_STATES:
        raise GreyCloudError(
            f"Batch job {job.name} is {state_name(job)}: it has no results "
            "to read (wait for it with monitor_batch_job)."
        )
    places: list[str] = []
    if job.output_info and job.output_info.gcs_output_directory:
        places.append(job.output_info.gcs_output_directory)
    if job.dest and job.dest.gcs_uri:
        places.append(job.dest.gcs_uri)
    if not places:
        raise GreyCloudError(f"Batch job {job.name} has no Cloud Storage output URI.")
    for place in places:
        where = parse_gs_uri(place)
        prefix = f"{where.name}/" if where.name else ""
        with StorageErrors():
            blobs = list(client.list_blobs(where.bucket, prefix=prefix))
        found = [b for b in blobs if _is_prediction_file(b.name)]
        if found:
            return sorted(found, key=lambda b: b.name)
    raise GreyCloudError(
        f"No predictions*.jsonl found under {', '.join(places)} for batch job {job.name}."
    )


def result_path(output_file: str | os.PathLike[str]) -> Path:
    """``output_file`` as a `Path`, or ``ValueError`` when it names a directory."""
    target = Path(output_file).expanduser()
    if target.is_dir():
        raise ValueError(f"{target} is a directory: give a file name for the results.")
    return target


def download(blobs: list[Any], target: Path) -> str:
    """Concatenate ``blobs`` into ``target`` (JSONL, see `result_path`); returns its path.

    The file is written next to its final place and renamed at the end, so a
    failed download leaves no half-written result.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w+b") as handle:
            for blob in blobs:
                with StorageErrors():
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


def read_inputs(client: storage.Client, job: types.BatchJob) -> Inputs:
    """The job's input lines by key (``#N`` for lines without one)."""
    uris = list(job.src.gcs_uri or []) if job.src else []
    inputs: Inputs = {}
    position = 0
    for uri in uris:
        where = parse_gs_uri(uri)
        with StorageErrors():
            reader = client.bucket(where.bucket).blob(where.name).open("r")
        with reader:
            for raw in reader:
                if not raw.strip():
                    continue
                line = json.loads(raw)
                key = line_key(line) or f"#{position}"
                inputs[key] = (position, line)
                position += 1
    return inputs


def iter_results(blobs: list[Any], inputs: Inputs) -> Iterator[BatchResult]:
    """Each output line of ``blobs`` as a `BatchResult`, in output order."""
    by_request = {canonical_request(line.get("request")): key for key, (_, line) in inputs.items()}
    for blob in blobs:
        with StorageErrors():
            reader = blob.open("r")
        with reader:
            for raw in reader:
                if raw.strip():
                    yield pair(json.loads(raw), inputs, by_request)


def pair(line: dict[str, Any], inputs: Inputs, by_request: dict[str, str]) -> BatchResult:
    """One output line with the input it answers (by key, else by the echoed request)."""
    key = line_key(line)
    echoed = line.get("request")
    if key is None and echoed is not None:
        key = by_request.get(canonical_request(echoed))
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


def _parse_response(value: Any) -> types.GenerateContentResponse | None:
    if not isinstance(value, Mapping):
        return None
    return _genai_compat.response_from_vertex(value)


def _error_text(status: Any) -> str | None:
    if status in (None, "", {}):
        return None
    if isinstance(status, Mapping):
        message = status.get("message") or json.dumps(status)
        code = status.get("code")
        return f"{code}: {message}" if code is not None else str(message)
    return str(status)


def _is_prediction_file(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return base.startswith("predictions") and base.endswith(".jsonl")
