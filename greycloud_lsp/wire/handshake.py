"""The versioned handshake that precedes LSP bytes on a daemon connection.

The client (forwarder or ``daemon status``/``stop``) writes ONE line of JSON::

    {"greycloud-daemon": PROTOCOL, "version": "<package version>",
     "request": "session" | "status" | "stop", ...}

``session`` adds ``environ`` (the variables ``GreyCloudConfig`` reads),
``log_file``/``log_level``, the ``editor_pid`` and ``window``: an id the
forwarder makes once and sends to every daemon it replays into, so a new
daemon gives the window back the caches it held. The daemon answers one line::

    {"greycloud-daemon": PROTOCOL, "version": ..., "ok": true, "pid": ...}
    {"greycloud-daemon": PROTOCOL, "version": ..., "ok": false, "reason": ..., "message": ...}

and for ``session`` LSP messages follow in both directions. A daemon refuses a
different protocol or package version (``reason: "version"``): the forwarder
then runs standalone rather than talk to a daemon of another install.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import uuid
from collections.abc import Mapping
from typing import Any

from greycloud_lsp import __version__

PROTOCOL = 1
KEY = "greycloud-daemon"
TIMEOUT_SECONDS = 5.0
REQUESTS = ("session", "status", "stop")
SESSION_ENDED = "$/greycloud/sessionEnded"
"""Daemon -> forwarder only, last on a session: it ended on purpose (``exit``, editor
gone); the forwarder exits with ``params.code`` instead of replaying."""


_WINDOW_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def new_window_id() -> str:
    """A window id: made once per forwarder, kept across daemons."""
    return uuid.uuid4().hex


class HandshakeError(RuntimeError):
    """A malformed, refused or mismatched handshake; ``reason`` is machine-readable."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def session_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables of this process that decide a session's connection config and identity.

    What ``GreyCloudConfig`` reads, what chooses the credentials file, and what
    ``gcloud`` reads (``PATH``, ``HOME``, every ``CLOUDSDK_*``): the daemon
    resolves the session's credentials, project and ``gcloud`` from these alone.
    """
    from greycloud.adc_files import CREDENTIAL_ENVIRONMENT_VARIABLES
    from greycloud.config import ENVIRONMENT_VARIABLES
    from greycloud.gcloud_project import gcloud_variables

    env = os.environ if environ is None else environ
    names = (*ENVIRONMENT_VARIABLES, *CREDENTIAL_ENVIRONMENT_VARIABLES)
    return {**{name: env[name] for name in names if name in env}, **gcloud_variables(env)}


def hello(request: str, **fields: Any) -> dict[str, Any]:
    """The client's first line."""
    return {KEY: PROTOCOL, "version": __version__, "request": request, **fields}


def answer(ok: bool, **fields: Any) -> dict[str, Any]:
    """The daemon's reply line."""
    return {KEY: PROTOCOL, "version": __version__, "ok": ok, **fields}


def encode(message: Mapping[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


async def read_line(reader: asyncio.StreamReader, timeout: float = TIMEOUT_SECONDS) -> dict:
    """Read one handshake line (bounded in time; in size by the stream's limit)."""
    try:
        line = await asyncio.wait_for(reader.readuntil(b"\n"), timeout)
    except asyncio.TimeoutError as exc:
        raise HandshakeError("timeout", f"no handshake within {timeout:.0f} s") from exc
    except asyncio.IncompleteReadError as exc:
        raise HandshakeError("closed", "connection closed during the handshake") from exc
    except asyncio.LimitOverrunError as exc:
        raise HandshakeError("malformed", "handshake line too long") from exc
    try:
        message = json.loads(line)
    except ValueError as exc:
        raise HandshakeError("malformed", "handshake is not JSON") from exc
    if not isinstance(message, dict) or KEY not in message:
        raise HandshakeError("malformed", f"handshake lacks {KEY!r}")
    return message


def check_hello(message: Mapping[str, Any]) -> str:
    """Validate a client's first line; returns the request name."""
    check_version(message)
    request = message.get("request")
    if request not in REQUESTS:
        raise HandshakeError("malformed", f"unknown request {request!r}; expected {REQUESTS}")
    if request == "session":
        environ = message.get("environ", {})
        if not isinstance(environ, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in environ.items()
        ):
            raise HandshakeError("malformed", "environ must map strings to strings")
        window = message.get("window")
        if window is not None and not (isinstance(window, str) and _WINDOW_ID.fullmatch(window)):
            raise HandshakeError("malformed", "window must be 1-64 letters, digits, - or _")
    return request


def check_version(message: Mapping[str, Any]) -> None:
    """Refuse a peer speaking another protocol or running another install."""
    theirs = (message.get(KEY), message.get("version"))
    if theirs != (PROTOCOL, __version__):
        raise HandshakeError(
            "version",
            f"peer speaks greycloud-daemon protocol {theirs[0]} (greycloud {theirs[1]}); "
            f"this is protocol {PROTOCOL} (greycloud {__version__})",
        )


def check_answer(message: Mapping[str, Any]) -> dict[str, Any]:
    """Validate the daemon's reply; raises :class:`HandshakeError` on refusal."""
    if not message.get("ok"):
        reason = str(message.get("reason", "refused"))
        raise HandshakeError(reason, str(message.get("message", "the daemon refused")))
    check_version(message)
    return dict(message)
