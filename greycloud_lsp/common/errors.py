"""Turning backend failures into JSON-RPC errors whose message says what to do."""

from __future__ import annotations

from typing import Any

from pygls.exceptions import JsonRpcException

from greycloud.errors import ADC_LOGIN_HINT

VERTEX_ROLE = "roles/aiplatform.user"


class RequestFailed(JsonRpcException):
    """LSP ``RequestFailed``: the request was well formed but the backend refused it."""

    CODE = -32803


def _api_error_message(exc: BaseException) -> str | None:
    code = getattr(exc, "code", None)
    status = getattr(exc, "status", None)
    detail = getattr(exc, "message", None) or str(exc)
    if code == 401:
        return f"Authentication failed ({detail}): {ADC_LOGIN_HINT}."
    if code == 403:
        return (
            f"Permission denied ({detail}): grant the caller {VERTEX_ROLE} on the project, "
            "or check projectId."
        )
    if code == 404:
        return f"Not found ({detail}): check the name, projectId, location and model."
    if code == 429:
        return (
            f"Quota exhausted ({detail}): lower rpm/tpm in the greycloud settings or retry later."
        )
    if isinstance(code, int):
        return f"Vertex AI returned {code} {status or ''}: {detail}".replace("  ", " ")
    return None


def _quota_data(exc: BaseException) -> dict[str, Any] | None:
    """The parsed quota details of a 429 (``QuotaExhaustedError`` and friends) as error data."""
    quota = getattr(exc, "quota", None)
    if quota is None or not hasattr(quota, "violations"):
        return None
    data: dict[str, Any] = {
        "quotaId": quota.quota_id,
        "quotaMetric": quota.quota_metric,
        "quotaValue": quota.quota_value,
        "retryDelay": quota.retry_delay,
        "violations": [
            {
                "quotaId": v.quota_id,
                "quotaMetric": v.quota_metric,
                "quotaDimensions": v.quota_dimensions,
                "quotaValue": v.quota_value,
            }
            for v in quota.violations
        ],
    }
    reason = getattr(exc, "reason", None)
    if reason is not None:
        data["reason"] = reason
    return data


def backend_error(exc: BaseException, action: str) -> JsonRpcException:
    """A ``RequestFailed`` error for ``exc`` raised while doing ``action``.

    A quota failure carries its parsed details (quota id, metric, limit, retry
    delay and, for a ``QuotaExhaustedError``, why it was not retried) as ``data``.
    """
    if isinstance(exc, JsonRpcException):
        return exc
    try:
        from greycloud.errors import GreyCloudError
    except ImportError:  # pragma: no cover - library always present in practice
        GreyCloudError = ()  # type: ignore[assignment]
    if isinstance(exc, GreyCloudError):
        message = str(exc)  # GreyCloud's messages are already actionable
    elif (api := _api_error_message(exc)) is not None:
        message = api
    elif isinstance(exc, ValueError):
        message = f"Invalid configuration: {exc} Fix it in the greycloud settings."
    elif isinstance(exc, (OSError, TimeoutError)):
        message = f"Could not reach Vertex AI ({exc}): check endpoint/location and the network."
    else:
        message = f"{type(exc).__name__}: {exc}"
    return RequestFailed(f"{action} failed: {message}", data=_quota_data(exc))
