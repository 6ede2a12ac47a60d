"""``/_emulator/*`` admin API for programming the emulator from other processes."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from aiohttp import web

from greycloud.emulator.context import get_state
from greycloud.emulator.errors import error_response
from greycloud.emulator.state import EmulatorState

PREFIX = "/_emulator"


async def _json_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw:
        return {}
    body = await request.json()
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")
    return body


def _call(func: Callable[..., Any], body: dict[str, Any]) -> web.Response | None:
    """Call ``func(**body)``; a 400 response on bad arguments."""
    allowed = set(inspect.signature(func).parameters)
    unknown = set(body) - allowed
    if unknown:
        return error_response(400, f"Unknown fields: {sorted(unknown)}; allowed: {sorted(allowed)}")
    try:
        func(**body)
    except (TypeError, ValueError) as exc:
        return error_response(400, str(exc))
    return None


def _setter(name: str) -> Callable[[web.Request], Any]:
    async def handler(request: web.Request) -> web.Response:
        state = get_state(request)
        try:
            body = await _json_body(request)
        except ValueError as exc:
            return error_response(400, f"Invalid JSON: {exc}")
        failed = _call(getattr(state, name), body)
        return failed or web.json_response({"ok": True})

    handler.__doc__ = f"POST body -> EmulatorState.{name}(**body)."
    return handler


async def health(request: web.Request) -> web.Response:
    """Liveness probe."""
    del request
    return web.json_response({"status": "ok"})


async def list_requests(request: web.Request) -> web.Response:
    """The request log; ``?action=`` filters by action."""
    state = get_state(request)
    entries = state.snapshot()
    action = request.query.get("action")
    if action:
        entries = [e for e in entries if e["action"] == action]
    return web.json_response({"requests": entries})


async def clear_requests(request: web.Request) -> web.Response:
    """Forget the request log."""
    get_state(request).clear_log()
    return web.json_response({"ok": True})


async def clear_faults(request: web.Request) -> web.Response:
    """Drop queued faults."""
    get_state(request).clear_faults()
    return web.json_response({"ok": True})


async def issue_token(request: web.Request) -> web.Response:
    """Mint an access token: body ``{"principal"?, "lifetime"?}``."""
    state = get_state(request)
    try:
        body = await _json_body(request)
        token = state.issue_token(
            str(body.get("principal", "gcloud-user")), lifetime=body.get("lifetime")
        )
    except (TypeError, ValueError) as exc:
        return error_response(400, str(exc))
    return web.json_response({"access_token": token})


def register_routes(app: web.Application, state: EmulatorState) -> None:
    """Add the admin routes."""
    del state
    router = app.router
    router.add_get(f"{PREFIX}/health", health)
    router.add_get(f"{PREFIX}/requests", list_requests)
    router.add_delete(f"{PREFIX}/requests", clear_requests)
    router.add_post(f"{PREFIX}/faults", _setter("add_fault"))
    router.add_delete(f"{PREFIX}/faults", clear_faults)
    router.add_post(f"{PREFIX}/quota", _setter("set_quota"))
    router.add_post(f"{PREFIX}/reset", _setter("reset"))
    router.add_post(f"{PREFIX}/config", _setter("configure"))
    router.add_post(f"{PREFIX}/api_keys", _setter("add_api_key"))
    router.add_post(f"{PREFIX}/expire_tokens", _setter("expire_all_tokens"))
    router.add_post(f"{PREFIX}/deny_impersonation", _setter("deny_impersonation"))
    router.add_post(f"{PREFIX}/service_accounts", _setter("register_service_account"))
    router.add_post(f"{PREFIX}/tokens", issue_token)
