"""GreyCloud's exceptions. Every message says what went wrong and what to do next."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from greycloud.quota_errors import QuotaDetails, QuotaViolation

ADC_LOGIN_HINT = (
    "run `gcloud auth application-default login` (or set GOOGLE_APPLICATION_CREDENTIALS)"
)
TOKEN_CREATOR_ROLE = "roles/iam.serviceAccountTokenCreator"


class GreyCloudError(Exception):
    """Base class of every error GreyCloud raises on purpose.

    When the failure was an answer of the API, ``code`` is its HTTP status
    (e.g. 429), ``status`` Google's status name (e.g. ``RESOURCE_EXHAUSTED``),
    ``message`` Google's own message, and ``__cause__`` the original
    ``google.genai.errors.APIError``; otherwise all three are None.
    """

    code: int | None = None
    status: str | None = None
    message: str | None = None


class AuthenticationError(GreyCloudError):
    """No usable credentials, or the server rejected them (HTTP 401)."""


class PermissionDeniedError(GreyCloudError):
    """The credentials are valid but not allowed to do this (HTTP 403)."""


class APICallError(GreyCloudError):
    """The API refused a request in a way a retry cannot fix (e.g. 400, 404).

    ``code`` is the HTTP status and ``status`` the API's status name; the
    message carries the API's own explanation. ``quota`` holds the parsed
    quota details of a 429 (quota id, metric, retry delay), else None.
    """

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        status: str | None = None,
        quota: QuotaDetails | None = None,
    ):
        super().__init__(message)
        self.code = code
        self.status = status
        self.quota = quota


class RetriesExhaustedError(GreyCloudError):
    """A transient failure kept happening until ``max_retries`` ran out.

    ``quota`` holds the parsed quota details when the last failure was a 429.
    """

    def __init__(
        self,
        message: str,
        *,
        attempts: int,
        last_error: BaseException | None,
        quota: QuotaDetails | None = None,
    ):
        super().__init__(message)
        self.attempts = attempts
        self.last_error = last_error
        self.quota = quota


class QuotaExhaustedError(GreyCloudError):
    """A 429 that waiting a little cannot fix, raised at once without retrying.

    ``reason`` is ``"daily"`` (a per-day quota: it resets daily), ``"limit_zero"``
    (the quota allows nothing for this project/model) or ``"patience"`` (the
    server asked to wait longer than ``max_retry_delay``). ``quota`` holds the
    parsed details; ``violations``, ``quota_id``, ``quota_value`` and
    ``retry_delay`` are shortcuts into it.
    """

    def __init__(self, message: str, *, reason: str, quota: QuotaDetails):
        super().__init__(message)
        self.reason = reason
        self.quota = quota

    @property
    def violations(self) -> tuple[QuotaViolation, ...]:
        """Every violated quota Google listed."""
        return self.quota.violations

    @property
    def quota_id(self) -> str | None:
        """The first violated quota's id."""
        return self.quota.quota_id

    @property
    def quota_value(self) -> str | None:
        """The first violated quota's limit."""
        return self.quota.quota_value

    @property
    def retry_delay(self) -> float | None:
        """The wait the server asked for, in seconds, if any."""
        return self.quota.retry_delay


class StreamInterruptedError(GreyCloudError):
    """A stream broke after text had already been delivered.

    GreyCloud never repeats text, so it does not restart such a stream.
    ``partial_text`` holds everything that was yielded before the break;
    ``quota`` the parsed quota details when the break was a 429 in the stream.
    """

    def __init__(
        self,
        message: str,
        *,
        partial_text: str,
        cause: BaseException | None = None,
        quota: QuotaDetails | None = None,
    ):
        super().__init__(message)
        self.partial_text = partial_text
        self.cause = cause
        self.quota = quota


class RequestTooLargeError(GreyCloudError):
    """A single request needs more tokens than the tokens-per-minute limit allows."""

    def __init__(self, message: str, *, estimated_tokens: int, tpm: int):
        super().__init__(message)
        self.estimated_tokens = estimated_tokens
        self.tpm = tpm
