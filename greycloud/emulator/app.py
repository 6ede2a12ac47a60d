"""Assembling the aiohttp application.

Each route module exposes ``register_routes(app, state)``; to add one (for
example ``cache_routes`` or ``batch_routes``) append it to ``ROUTE_MODULES``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from types import ModuleType

from aiohttp import web

from greycloud.emulator import (
    admin_routes,
    auth_routes,
    batch_routes,
    cache_routes,
    model_routes,
)
from greycloud.emulator.context import STATE_KEY
from greycloud.emulator.errors import error_response
from greycloud.emulator.state import EmulatorState

logger = logging.getLogger(__name__)
ROUTE_MODULES: list[ModuleType] = [
    auth_routes,
    model_routes,
    admin_routes,
    cache_routes,
    batch_routes,
]
MAX_BODY_BYTES = 64 * 1024 * 1024

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def google_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Render aiohttp's HTTP errors and unexpected exceptions as Google JSON errors."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(exc.status, f"{exc.reason}: {request.method} {request.path}")
    except ConnectionResetError:
        raise
    except Exception as exc:
        logger.exception("emulator bug while handling %s %s", request.method, request.path)
        return error_response(500, f"Emulator internal error: {type(exc).__name__}: {exc}")


def create_app(state: EmulatorState | None = None) -> web.Application:
    """Build the emulator application around ``state`` (a fresh one by default)."""
    app = web.Application(middlewares=[google_errors], client_max_size=MAX_BODY_BYTES)
    state = state if state is not None else EmulatorState()
    app[STATE_KEY] = state
    for module in ROUTE_MODULES:
        module.register_routes(app, state)
    return app
