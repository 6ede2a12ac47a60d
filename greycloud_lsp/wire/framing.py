"""LSP base-protocol framing (``Content-Length`` headers) over asyncio streams, and stdio."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
from typing import Any

MAX_HEADER_LINES = 32


class FramingError(ValueError):
    """The peer sent something that is not an LSP message."""


async def read_message(reader: asyncio.StreamReader) -> bytes | None:
    """The next message body, or None at end of stream."""
    length: int | None = None
    for _ in range(MAX_HEADER_LINES):
        line = await reader.readline()
        if not line:
            return None
        if line in (b"\r\n", b"\n"):
            if length is None:
                raise FramingError("message without Content-Length")
            return await reader.readexactly(length)
        name, _, value = line.decode("ascii", "replace").partition(":")
        if name.strip().lower() == "content-length":
            try:
                length = int(value.strip())
            except ValueError as exc:
                raise FramingError(f"bad Content-Length {value.strip()!r}") from exc
    raise FramingError("too many header lines")


def frame(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n%b" % (len(body), body)


def encode(message: dict[str, Any]) -> bytes:
    return frame(json.dumps(message, separators=(",", ":")).encode())


class StdoutWriter:
    """Writes frames to stdout: a pipe transport when possible, else plain writes."""

    def __init__(self, transport: asyncio.WriteTransport | None) -> None:
        self._transport = transport

    def write(self, data: bytes) -> None:
        if self._transport is not None:
            self._transport.write(data)
        else:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()


async def stdio_streams() -> tuple[asyncio.StreamReader, StdoutWriter]:
    """Async stdin reader and stdout writer (threads feed them when stdio is not a pipe)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 24)
    try:
        await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(0, "rb", 0, closefd=False)
        )
    except (ValueError, OSError):
        _feed_from_thread(loop, reader)
    try:
        transport, _ = await loop.connect_write_pipe(
            asyncio.Protocol, os.fdopen(1, "wb", 0, closefd=False)
        )
    except (ValueError, OSError):
        transport = None
    return reader, StdoutWriter(transport)  # type: ignore[arg-type]


def _feed_from_thread(loop: asyncio.AbstractEventLoop, reader: asyncio.StreamReader) -> None:
    def pump() -> None:
        while True:
            try:
                chunk = os.read(0, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                loop.call_soon_threadsafe(reader.feed_eof)
                return
            loop.call_soon_threadsafe(reader.feed_data, chunk)

    threading.Thread(target=pump, name="stdin", daemon=True).start()
