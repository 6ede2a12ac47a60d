"""Cloud Storage helpers: ``gs://`` URIs, name validation and the storage client.

The storage client is built with the credentials the genai client uses, so one
login serves both. ``google-cloud-storage`` itself honours
``STORAGE_EMULATOR_HOST``: when it is set every request goes to that emulator
(anonymously, see :func:`make_storage_client`).
"""

from __future__ import annotations

import ipaddress
import mimetypes
import os
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from google.auth.credentials import Credentials
    from google.cloud import storage

_BUCKET_PART = re.compile(r"^[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?$")
_MAX_OBJECT_BYTES = 1024

# Extensions mimetypes does not know everywhere, and a few it gets wrong for Gemini.
_EXTRA_MIME_TYPES = {
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".jsonl": "application/jsonl",
    ".json": "application/json",
    ".py": "text/x-python",
    ".ts": "text/plain",
    ".yaml": "text/plain",
    ".yml": "text/plain",
    ".toml": "text/plain",
    ".csv": "text/csv",
    ".txt": "text/plain",
    ".pdf": "application/pdf",
    ".webp": "image/webp",
    ".flac": "audio/flac",
}
DEFAULT_MIME_TYPE = "application/octet-stream"
GS_SCHEME = "gs://"
EMULATOR_HOST_ENV = "STORAGE_EMULATOR_HOST"


@dataclass(frozen=True)
class GcsPath:
    """A bucket and an object name (or prefix) inside it."""

    bucket: str
    name: str

    @property
    def uri(self) -> str:
        return f"{GS_SCHEME}{self.bucket}/{self.name}" if self.name else f"{GS_SCHEME}{self.bucket}"

    def child(self, name: str) -> GcsPath:
        """This path used as a directory, with ``name`` under it."""
        base = self.name.rstrip("/")
        return GcsPath(self.bucket, validate_object_name(f"{base}/{name}" if base else name))

    def __str__(self) -> str:
        return self.uri


def validate_bucket_name(name: str) -> str:
    """``name`` if it follows Cloud Storage's bucket naming rules, else ``ValueError``."""
    problem = _bucket_problem(name) if isinstance(name, str) else "it is not a string"
    if problem:
        raise ValueError(f"Invalid bucket name {name!r}: {problem}.")
    return name


def _bucket_problem(name: str) -> str | None:
    limit = 222 if "." in name else 63
    if not 3 <= len(name) <= limit:
        return f"use 3 to {limit} characters"
    if name.startswith("goog") or "google" in name or "g00gle" in name:
        return "names may not start with 'goog' or contain 'google'"
    try:
        ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        return "an IP address is not allowed"
    for part in name.split("."):
        if len(part) > 63:
            return "each dot-separated part must be at most 63 characters"
        if not _BUCKET_PART.match(part):
            return (
                "use lowercase letters, digits, '-', '_' and '.', "
                "starting and ending with a letter or digit"
            )
    return None


def validate_object_name(name: str) -> str:
    """``name`` if it is a safe object name: no ``..`` or ``.`` segments, no leading ``/``,
    no control characters, at most 1024 bytes. Raises ``ValueError`` otherwise."""
    if not isinstance(name, str) or not name:
        raise ValueError("Object name must be a non-empty string.")
    if len(name.encode("utf-8")) > _MAX_OBJECT_BYTES:
        raise ValueError(f"Object name is longer than {_MAX_OBJECT_BYTES} bytes: {name[:60]!r}...")
    if name.startswith("/"):
        raise ValueError(f"Object name {name!r} must not start with '/'.")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise ValueError(f"Object name {name!r} contains control characters.")
    if "\\" in name:
        raise ValueError(f"Object name {name!r} contains a backslash: use '/' between parts.")
    segments = name.split("/")
    if any(segment in {".", ".."} for segment in segments):
        raise ValueError(f"Object name {name!r} must not contain '.' or '..' segments.")
    return name


def validate_prefix(prefix: str) -> str:
    """A folder-like prefix without leading/trailing slashes ('' allowed)."""
    cleaned = prefix.strip("/")
    return validate_object_name(cleaned) if cleaned else ""


def is_gs_uri(value: object) -> bool:
    """Whether ``value`` is a string in the ``gs://`` scheme (not yet validated)."""
    return isinstance(value, str) and value.startswith(GS_SCHEME)


def parse_gs_uri(uri: str) -> GcsPath:
    """Split ``gs://bucket/name`` into a :class:`GcsPath`, validating both parts."""
    if not is_gs_uri(uri):
        raise ValueError(f"{uri!r} is not a Cloud Storage URI: use gs://BUCKET/PATH.")
    bucket, _, name = uri[len(GS_SCHEME) :].partition("/")
    validate_bucket_name(bucket)
    name = name.rstrip("/")
    if name:
        validate_object_name(name)
    return GcsPath(bucket, name)


def guess_mime_type(name: str, default: str = DEFAULT_MIME_TYPE) -> str:
    """MIME type from a file name or URI, with fallbacks for common text types."""
    suffix = PurePosixPath(name).suffix.lower()
    if suffix in _EXTRA_MIME_TYPES:
        return _EXTRA_MIME_TYPES[suffix]
    guessed, _ = mimetypes.guess_type(name, strict=False)
    return guessed or default


def make_storage_client(project: str | None, credentials: Credentials | None) -> storage.Client:
    """A storage client using ``credentials`` (the genai client's).

    With ``STORAGE_EMULATOR_HOST`` set, ``google-cloud-storage`` sends every
    request to that emulator, which checks no tokens: the client then talks to
    it anonymously, so no token refresh (and none of google-auth's background
    lookups at googleapis.com) happens on the emulator's behalf.
    """
    from google.cloud import storage

    if os.environ.get(EMULATOR_HOST_ENV):
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(project=project or "emulator", credentials=AnonymousCredentials())
    return storage.Client(project=project, credentials=credentials)
