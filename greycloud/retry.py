"""Error classification and the retry policy, shared by the sync and async clients.

Only failures that can succeed on a second try are retried: HTTP 408, 429,
500, 502, 503, 504, dropped connections and timeouts. A 401 is retried once
after the client re-creates its credentials. Everything else fails at once,
translated into a `GreyCloudError` whose message says what to do.

A 429 is read the way Google sends it (see `greycloud.quota_errors`): the wait
is the longest of ``Retry-After``, the body's ``RetryInfo.retryDelay`` and a
"Please retry in 38.9s" in the message. A per-day quota, a quota with
``limit: 0`` or a wait longer than ``max_retry_delay`` is not retried: it
raises `QuotaExhaustedError` at once.

tenacity does the looping; this module supplies the predicate, the wait and
the hooks.
"""

from __future__ import annotations

import asyncio
import email.utils
import enum
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import google.auth.exceptions
import tenacity
from google.genai import errors as genai_errors

from greycloud.config import DEFAULT_MAX_RETRY_DELAY
from greycloud.errors import (
    ADC_LOGIN_HINT,
    TOKEN_CREATOR_ROLE,
    APICallError,
    AuthenticationError,
    GreyCloudError,
    PermissionDeniedError,
    QuotaExhaustedError,
    RetriesExhaustedError,
)
from greycloud.quota_errors import QuotaDetails, quota_details

logger = logging.getLogger(__name__)

RETRYABLE_STATUS_CODES = frozenset({408, 429, 500, 502, 503, 504})
E = TypeVar("E", bound=BaseException)


class ErrorKind(enum.Enum):
    """What a failure means for the next attempt."""

    TRANSIENT = "transient"  # retry after a backoff
    UNAUTHENTICATED = "unauthenticated"  # refresh credentials, then retry once
    PERMISSION = "permission"  # fail: IAM
    FATAL = "fatal"  # fail: the request itself is wrong


def _transport_errors() -> tuple[type[BaseException], ...]:
    found: list[type[BaseException]] = [ConnectionError, TimeoutError, asyncio.TimeoutError]
    for module_name, names in (
        ("httpx", ("TransportError",)),
        ("httpx2", ("TransportError",)),
        ("aiohttp", ("ClientConnectionError", "ClientPayloadError", "ServerTimeoutError")),
        ("requests", ("ConnectionError", "Timeout")),
    ):
        try:
            module = __import__(module_name)
        except ImportError:
            continue
        found.extend(getattr(module, name) for name in names if hasattr(module, name))
    found.append(google.auth.exceptions.TransportError)
    return tuple(found)


TRANSPORT_ERRORS = _transport_errors()


def status_code(exc: BaseException) -> int | None:
    """The HTTP status behind ``exc``, when it has one."""
    if isinstance(exc, genai_errors.APIError):
        return exc.code
    if isinstance(exc, APICallError):
        return exc.code
    return None


def classify(exc: BaseException) -> ErrorKind:
    """How to react to ``exc``."""
    code = status_code(exc)
    if code is not None:
        if code in RETRYABLE_STATUS_CODES:
            return ErrorKind.TRANSIENT
        if code == 401:
            return ErrorKind.UNAUTHENTICATED
        if code == 403:
            return ErrorKind.PERMISSION
        return ErrorKind.FATAL
    if isinstance(exc, google.auth.exceptions.RefreshError):
        retryable = getattr(exc, "retryable", False)
        return ErrorKind.TRANSIENT if retryable else ErrorKind.UNAUTHENTICATED
    if isinstance(exc, TRANSPORT_ERRORS):
        return ErrorKind.TRANSIENT
    return ErrorKind.FATAL


def retry_after_seconds(exc: BaseException) -> float | None:
    """The server's ``Retry-After`` (seconds or HTTP date), if it sent one."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    raw = headers.get("Retry-After") or headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def server_delay(exc: BaseException) -> float | None:
    """The wait the server asked for: the longest of Retry-After and the body's delay."""
    delays = [retry_after_seconds(exc)]
    details = quota_details(exc) if isinstance(exc, genai_errors.APIError) else None
    if details is not None:
        delays.append(details.retry_delay)
    known = [d for d in delays if d is not None]
    return max(known) if known else None


def quota_of(exc: BaseException) -> QuotaDetails | None:
    """Parsed quota details of a 429 (with the header's Retry-After folded in), else None."""
    if status_code(exc) != 429:
        return None
    details = quota_details(exc) if isinstance(exc, genai_errors.APIError) else None
    delay = server_delay(exc)
    if details is None:
        return QuotaDetails(retry_delay=delay) if delay is not None else None
    if delay != details.retry_delay:
        details = replace(details, retry_delay=delay)
    return details


def quota_exhausted(
    exc: BaseException, max_retry_delay: float = DEFAULT_MAX_RETRY_DELAY
) -> QuotaExhaustedError | None:
    """The `QuotaExhaustedError` for a 429 that waiting cannot fix, else None."""
    if isinstance(exc, QuotaExhaustedError):
        return exc
    details = quota_of(exc)
    if details is None:
        return None
    daily = details.daily
    if daily:
        quotas = "; ".join(v.label() for v in daily)
        return QuotaExhaustedError(
            f"The Vertex AI quota {quotas} is used up for today; it resets daily (Google resets "
            "daily quotas at midnight Pacific time), so GreyCloud did not retry. Try again "
            "after the reset, use another model or project, or request a higher quota in the "
            "Google Cloud console (IAM & Admin > Quotas).",
            reason="daily",
            quota=details,
        )
    label = "; ".join(v.label() for v in details.violations) or "the quota"
    if details.limit_zero:
        return QuotaExhaustedError(
            f"Vertex AI says {label} has limit: 0 for this project and model, so no request "
            "can succeed and GreyCloud did not retry. Enable billing or request quota for "
            f"this model, or use another model ({describe(exc)}).",
            reason="limit_zero",
            quota=details,
        )
    if details.retry_delay is not None and details.retry_delay > max_retry_delay:
        return QuotaExhaustedError(
            f"Vertex AI asked to wait {details.retry_delay:g}s before retrying ({label}), "
            f"longer than max_retry_delay={max_retry_delay:g}s, so GreyCloud did not retry. "
            "Try again later, or raise max_retry_delay (GREYCLOUD_MAX_RETRY_DELAY) to wait "
            "that long.",
            reason="patience",
            quota=details,
        )
    return None


def _quota_note(details: QuotaDetails | None) -> str:
    if details is None:
        return ""
    parts = [v.label() for v in details.violations]
    if details.retry_delay is not None:
        parts.append(f"server asked to wait {details.retry_delay:g}s")
    return f" [{'; '.join(parts)}]" if parts else ""


def describe(exc: BaseException) -> str:
    """A one-line description of ``exc`` without secrets (no headers, no bodies)."""
    if isinstance(exc, genai_errors.APIError):
        return f"{exc.code} {exc.status or ''}: {exc.message or 'no message'}".replace(" :", ":")
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def with_api_details(error: E, exc: BaseException) -> E:
    """``error`` with the HTTP code, status and message of ``exc`` when it is an API error."""
    if isinstance(exc, genai_errors.APIError) and isinstance(error, GreyCloudError):
        error.code = exc.code
        error.status = exc.status
        error.message = exc.message
    return error


def translate(
    exc: BaseException,
    *,
    sa_email: str | None = None,
    attempts: int = 1,
    max_retry_delay: float = DEFAULT_MAX_RETRY_DELAY,
) -> BaseException:
    """``exc`` as the `GreyCloudError` a caller should see (GreyCloud errors pass through).

    An error made from an API answer keeps its ``code``, ``status`` and ``message``
    (`with_api_details`); callers raise it ``from exc``.
    """
    if isinstance(exc, (GreyCloudError, ValueError, TypeError)):
        return exc
    return with_api_details(_translated(exc, sa_email, attempts, max_retry_delay), exc)


def _translated(
    exc: BaseException, sa_email: str | None, attempts: int, max_retry_delay: float
) -> BaseException:
    exhausted = quota_exhausted(exc, max_retry_delay)
    if exhausted is not None:
        return exhausted
    quota = quota_of(exc)
    kind = classify(exc)
    what = describe(exc)
    if kind is ErrorKind.UNAUTHENTICATED:
        if sa_email and isinstance(exc, google.auth.exceptions.RefreshError):
            return PermissionDeniedError(
                f"Could not impersonate {sa_email} ({what}). You need {TOKEN_CREATOR_ROLE} "
                "on that service account."
            )
        return AuthenticationError(
            f"Vertex AI rejected the credentials ({what}): {ADC_LOGIN_HINT}."
        )
    if kind is ErrorKind.PERMISSION:
        hint = (
            f"the caller needs {TOKEN_CREATOR_ROLE} on {sa_email}, and {sa_email} needs "
            "roles/aiplatform.user on the project"
            if sa_email
            else "grant roles/aiplatform.user on the project to the account you use"
        )
        return PermissionDeniedError(f"Permission denied ({what}): {hint}.")
    if kind is ErrorKind.TRANSIENT:
        advice = (
            "no answer within request_timeout; raise it (GREYCLOUD_REQUEST_TIMEOUT) or try "
            "again later"
            if "Timeout" in type(exc).__name__
            else "try again later or lower the request rate"
        )
        return RetriesExhaustedError(
            f"Vertex AI kept failing after {attempts} attempt(s) ({what}){_quota_note(quota)}; "
            f"{advice}.",
            attempts=attempts,
            last_error=exc,
            quota=quota,
        )
    code = status_code(exc)
    status = exc.status if isinstance(exc, genai_errors.APIError) else None
    return APICallError(
        f"Vertex AI refused the request ({what}){_quota_note(quota)}.",
        code=code,
        status=status,
        quota=quota,
    )


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, a cap, and the server's wait respected.

    ``max_retry_delay`` is the caller's patience (the clients set it from
    `GreyCloudConfig.max_retry_delay`): a 429 asking for a longer wait is not
    retried, and any other status's Retry-After is capped at it.
    """

    max_retries: int = 5
    initial_delay: float = 1.0
    max_delay: float = 60.0
    multiplier: float = 2.0
    reauth: bool = True
    max_retry_delay: float = DEFAULT_MAX_RETRY_DELAY

    def backoff(self, attempt: int) -> float:
        """Delay before attempt ``attempt + 1`` (``attempt`` counts from 1)."""
        ceiling = min(self.max_delay, self.initial_delay * self.multiplier ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)

    def delay_for(self, exc: BaseException | None, attempt: int) -> float:
        """The wait before the next attempt: what the server asked for, else backoff."""
        if exc is not None:
            if classify(exc) is ErrorKind.UNAUTHENTICATED:
                return 0.0
            server = server_delay(exc)
            if server is not None:
                return min(server, self.max_retry_delay)
        return self.backoff(attempt)

    def should_retry(self, exc: BaseException, unauthenticated_so_far: int) -> bool:
        """Whether ``exc`` may succeed on another attempt."""
        kind = classify(exc)
        if kind is ErrorKind.TRANSIENT:
            return quota_exhausted(exc, self.max_retry_delay) is None
        return kind is ErrorKind.UNAUTHENTICATED and self.reauth and unauthenticated_so_far == 0


class _AttemptState:
    """Per-call bookkeeping tenacity's hooks share."""

    def __init__(self) -> None:
        self.reauths = 0


def _retrying_kwargs(policy: RetryPolicy) -> tuple[dict[str, Any], Callable[..., Any]]:
    """tenacity arguments, and a function that logs a retry and returns (exc, delay)."""
    state = _AttemptState()

    def retry_predicate(retry_state: tenacity.RetryCallState) -> bool:
        outcome = retry_state.outcome
        if outcome is None or not outcome.failed:
            return False
        exc = outcome.exception()
        return exc is not None and policy.should_retry(exc, state.reauths)

    def wait(retry_state: tenacity.RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        return policy.delay_for(exc, retry_state.attempt_number)

    def note_retry(retry_state: tenacity.RetryCallState) -> tuple[BaseException, float]:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        assert exc is not None
        if classify(exc) is ErrorKind.UNAUTHENTICATED:
            state.reauths += 1
        delay = retry_state.next_action.sleep if retry_state.next_action else 0.0
        logger.warning(
            "attempt %d failed (%s); retrying in %.2fs",
            retry_state.attempt_number,
            describe(exc),
            delay,
        )
        return exc, delay

    kwargs = {
        "stop": tenacity.stop_after_attempt(policy.max_retries + 1),
        "retry": retry_predicate,
        "wait": wait,
        "reraise": True,
    }
    return kwargs, note_retry


def sync_retrying(
    policy: RetryPolicy, on_retry: Callable[[BaseException, float], None]
) -> tenacity.Retrying:
    """A tenacity loop for the sync client; ``on_retry(exc, delay)`` runs before each sleep."""
    kwargs, note_retry = _retrying_kwargs(policy)

    def before_sleep(retry_state: tenacity.RetryCallState) -> None:
        on_retry(*note_retry(retry_state))

    return tenacity.Retrying(before_sleep=before_sleep, **kwargs)


def async_retrying(
    policy: RetryPolicy,
    on_retry: Callable[[BaseException, float], Awaitable[None]],
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> tenacity.AsyncRetrying:
    """The same loop for the async client; sleeps with ``sleep``, ``on_retry`` is awaited."""
    kwargs, note_retry = _retrying_kwargs(policy)

    async def before_sleep(retry_state: tenacity.RetryCallState) -> None:
        await on_retry(*note_retry(retry_state))

    return tenacity.AsyncRetrying(sleep=sleep, before_sleep=before_sleep, **kwargs)


def needs_reauth(exc: BaseException) -> bool:
    """Whether the client should re-create its credentials before retrying."""
    return classify(exc) is ErrorKind.UNAUTHENTICATED


def attempts_made(retrying: tenacity.BaseRetrying) -> int:
    """How many attempts a finished tenacity loop made."""
    return int(retrying.statistics.get("attempt_number", 1))
