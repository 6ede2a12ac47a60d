"""Every use of pygls internals, fenced in one module (contract: tests/lsp/test_pygls_compat.py).

pygls is bounded to ``>=2.1,<3`` in pyproject.toml; when a new pygls breaks
one of these, the contract test names the function to fix.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from pygls.io_ import run_async
from pygls.protocol.language_server import lsp_method

__all__ = ["lsp_method", "serve_stream"]

log = logging.getLogger(__name__)


async def serve_stream(server: Any, reader: asyncio.StreamReader, writer: Any) -> None:
    """Serve one LSP client on ``reader``/``writer`` until EOF or ``server.shutdown()``.

    What pygls' ``start_tcp`` does per connection, minus its process-wide
    assumptions (one client per server, ``sys.exit`` when the stream ends).
    """
    server._stop_event = threading.Event()
    server.protocol.set_writer(writer)
    try:
        await run_async(
            stop_event=server._stop_event,
            reader=reader,
            protocol=server.protocol,
            logger=logging.getLogger("pygls.io"),
            error_handler=server.report_server_error,
        )
    except (asyncio.IncompleteReadError, BrokenPipeError, ConnectionError) as exc:
        log.debug("LSP stream ended: %s", exc)


def request_stop(server: Any) -> None:
    """Make :func:`serve_stream` return after the message being handled."""
    event = getattr(server, "_stop_event", None)
    if event is not None:
        event.set()
