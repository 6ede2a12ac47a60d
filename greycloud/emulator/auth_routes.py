"""OAuth2 token endpoint, IAM ``generateAccessToken`` and request authentication."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import time
from typing import Any

from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from greycloud.emulator.context import get_state
from greycloud.emulator.errors import ApiError, error_response, from_exception
from greycloud.emulator.faults import fault_response
from greycloud.emulator.recording import begin_record, finish_record
from greycloud.emulator.state import EmulatorState

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
IAM_SCOPE_PERMISSION = "iam.serviceAccounts.getAccessToken"


class OAuthError(Exception):
    """An RFC 6749 error (``{"error", "error_description"}``)."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


def bearer_token(request: web.Request) -> str | None:
    """The token from ``Authorization: Bearer ...``, if any."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def authenticate(request: web.Request, state: EmulatorState) -> str:
    """Return the caller's principal or raise a 401 :class:`ApiError`."""
    token = bearer_token(request)
    if token is not None:
        principal = state.principal_for(token)
        if principal is not None:
            return principal
    key = request.headers.get("x-goog-api-key")
    if key is not None and key in state.api_keys:
        return f"api-key:{key[:6]}"
    if token is None and key is None:
        message = "Request is missing required authentication credential."
    elif token is not None:
        message = "Request had invalid authentication credentials: unknown or expired token."
    else:
        message = "API key not valid. Please pass a valid API key."
    raise ApiError(401, message)


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def decode_jwt(assertion: str, state: EmulatorState) -> dict[str, Any]:
    """Decode a JWT; verify RS256 when the issuer's key is registered."""
    try:
        header_b64, payload_b64, sig_b64 = assertion.split(".")
        payload = json.loads(_b64decode(payload_b64))
        signature = _b64decode(sig_b64)
    except (ValueError, binascii.Error) as exc:
        raise OAuthError("invalid_grant", f"Malformed JWT assertion: {exc}") from exc
    if not isinstance(payload, dict) or not payload.get("iss"):
        raise OAuthError("invalid_grant", "JWT assertion has no 'iss' claim.")
    pem = state.service_account_keys.get(str(payload["iss"]))
    if pem is not None:
        key = serialization.load_pem_public_key(pem)
        if not isinstance(key, rsa.RSAPublicKey):
            raise OAuthError("invalid_grant", "Registered key is not an RSA key.")
        try:
            signed = f"{header_b64}.{payload_b64}".encode()
            key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature as exc:
            raise OAuthError("invalid_grant", "Invalid JWT Signature.") from exc
    exp = payload.get("exp")
    if isinstance(exp, int | float) and exp < time.time() - 60:
        raise OAuthError("invalid_grant", "Invalid JWT: Token must be a short-lived token.")
    return payload


def _grant_principal(form: dict[str, str], state: EmulatorState) -> str:
    grant = form.get("grant_type")
    if grant == JWT_BEARER:
        if not form.get("assertion"):
            raise OAuthError("invalid_request", "Missing required parameter: assertion")
        return str(decode_jwt(form["assertion"], state)["iss"])
    if grant == "refresh_token":
        if not form.get("refresh_token"):
            raise OAuthError("invalid_request", "Missing required parameter: refresh_token")
        return f"user:{form.get('client_id', 'unknown-client')}"
    raise OAuthError("unsupported_grant_type", f"Invalid grant_type: {grant}")


async def token_endpoint(request: web.Request) -> web.StreamResponse:
    """``POST /token``: JWT-bearer and refresh-token grants."""
    state = get_state(request)
    form = {k: str(v) for k, v in (await request.post()).items()}
    record = begin_record(request, state, action="token", body=form)
    fault = state.take_fault("token")
    response = await fault_response(request, fault)
    if response is None:
        try:
            principal = _grant_principal(form, state)
        except OAuthError as exc:
            payload: dict[str, Any] = {"error": exc.error, "error_description": exc.description}
            response = web.json_response(payload, status=exc.status)
        else:
            record.principal = principal
            token = state.issue_token(principal)
            lifetime = int(state.token_lifetime)
            payload = {"access_token": token, "expires_in": lifetime, "token_type": "Bearer"}
            response = web.json_response(payload)
    return finish_record(record, response, fault)


def _rfc3339(seconds_from_now: float) -> str:
    when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=seconds_from_now)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _lifetime(body: Any, default: float) -> float:
    raw = body.get("lifetime") if isinstance(body, dict) else None
    if isinstance(raw, str) and raw.endswith("s"):
        try:
            return float(raw[:-1])
        except ValueError:
            return default
    return default


async def generate_access_token(request: web.Request, target: str) -> web.StreamResponse:
    """``POST /v1/projects/-/serviceAccounts/{target}:generateAccessToken``."""
    state = get_state(request)
    try:
        body = await request.json()
    except ValueError:
        body = None
    record = begin_record(request, state, action="generateAccessToken", body=body, model=None)
    fault = state.take_fault("generateAccessToken")
    response = await fault_response(request, fault)
    if response is None:
        try:
            caller = authenticate(request, state)
            record.principal = caller
            if not state.may_impersonate(caller, target):
                raise ApiError(
                    403,
                    f"Permission '{IAM_SCOPE_PERMISSION}' denied on resource (or it may not "
                    f"exist): projects/-/serviceAccounts/{target} (caller: {caller}).",
                )
        except ApiError as exc:
            response = from_exception(exc)
        else:
            lifetime = min(_lifetime(body, 3600.0), state.token_lifetime)
            token = state.issue_token(target, lifetime=lifetime, prefix="emu-imp")
            response = web.json_response({"accessToken": token, "expireTime": _rfc3339(lifetime)})
    return finish_record(record, response, fault)


async def iam_action(request: web.Request) -> web.StreamResponse:
    """Dispatch ``serviceAccounts/{email}:{action}`` (only generateAccessToken exists)."""
    email, _, action = request.match_info["target"].rpartition(":")
    if action != "generateAccessToken" or not email:
        return error_response(404, f"Unknown IAM method: {action or request.path}")
    return await generate_access_token(request, email)


def register_routes(app: web.Application, state: EmulatorState) -> None:
    """Add the OAuth and IAM routes."""
    del state
    app.router.add_post("/token", token_endpoint)
    app.router.add_post("/v1/projects/{project}/serviceAccounts/{target}", iam_action)
