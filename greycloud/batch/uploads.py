"""Cloud Storage writes for batch jobs: local files, in-memory files and JSONL input.

Every storage call runs inside `StorageErrors`, which turns Cloud Storage
failures into a `GreyCloudError` that says what to do.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from greycloud.errors import GreyCloudError
from greycloud.storage import GcsPath, guess_mime_type, validate_object_name

if TYPE_CHECKING:
    from google.cloud import storage

FileSpec = str | os.PathLike[str] | Mapping[str, Any]


class StorageErrors:
    """Turn Cloud Storage failures into `GreyCloudError` with the reason."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None:
            return
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


def local_file(local_path: str | os.PathLike[str]) -> Path:
    """``local_path`` as a `Path`, or ``ValueError`` when it is not a file."""
    path = Path(local_path)
    if not path.is_file():
        raise ValueError(f"Not a file: {path}")
    return path


def upload_file(
    client: storage.Client,
    local_path: str | os.PathLike[str],
    bucket: str,
    blob_name: str | None = None,
    content_type: str | None = None,
) -> str:
    """Upload one local file to ``bucket``; returns its ``gs://`` URI."""
    path = local_file(local_path)
    name = validate_object_name(blob_name or path.name)
    with StorageErrors():
        blob = client.bucket(bucket).blob(name)
        blob.upload_from_filename(str(path), content_type=content_type or guess_mime_type(name))
    return GcsPath(bucket, name).uri


def upload_files(
    client: storage.Client, files: Iterable[FileSpec], bucket: str, folder: str
) -> dict[str, str]:
    """Upload each file spec under ``folder`` (a validated prefix); ``{name: gs_uri}``."""
    uploaded: dict[str, str] = {}
    for index, item in enumerate(files):
        name, data, path, content_type = file_spec(item, index)
        if name in uploaded:
            raise ValueError(f"files[{index}]: duplicate name {name!r}.")
        object_name = validate_object_name(f"{folder}/{name}" if folder else name)
        mime = content_type or guess_mime_type(name)
        with StorageErrors():
            blob = client.bucket(bucket).blob(object_name)
            if path is not None:
                blob.upload_from_filename(str(path), content_type=mime)
            else:
                blob.upload_from_string(data or b"", content_type=mime)
        uploaded[name] = GcsPath(bucket, object_name).uri
    return uploaded


def write_jsonl(client: storage.Client, path: GcsPath, lines: list[dict[str, Any]]) -> str:
    """Write ``lines`` as one JSONL object at ``path`` (spooled, not held as one string)."""
    with tempfile.TemporaryFile("w+b") as handle:
        for line in lines:
            handle.write(json.dumps(line, ensure_ascii=False).encode("utf-8") + b"\n")
        handle.seek(0)
        with StorageErrors():
            blob = client.bucket(path.bucket).blob(path.name)
            blob.upload_from_file(handle, content_type="application/jsonl", rewind=True)
    return path.uri


def file_spec(item: FileSpec, index: int) -> tuple[str, bytes | None, Path | None, str | None]:
    """(name, bytes, local path, content type) of one ``upload_files_to_gcs`` item."""
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
