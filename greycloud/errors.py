"""GreyCloud's exceptions. Every message says what went wrong and what to do next."""

from __future__ import annotations

ADC_LOGIN_HINT = (
    "run `gcloud auth application-default login` (or set GOOGLE_APPLICATION_CREDENTIALS)"
)
TOKEN_CREATOR_ROLE = "roles/iam.serviceAccountTokenCreator"


class GreyCloudError(Exception):
    """Base class of every error GreyCloud raises on purpose."""


class AuthenticationError(GreyCloudError):
    """No usable credentials, or the server rejected them (HTTP 401)."""


class PermissionDeniedError(GreyCloudError):
    """The credentials are valid but not allowed to do this (HTTP 403)."""


class APICallError(GreyCloudError):
    """The API refused a request in a way a retry cannot fix (e.g. 400, 404).

    ``code`` is the HTTP status and ``status`` the API's status name; the
    message carries the API's own explanation.
    """

    def __init__(self, message: str, *, code: int | None = None, status: str | None = None):
        super().__init__(message)
        self.code = code
        self.status = status


class RetriesExhaustedError(GreyCloudError):
    """A transient failure kept happening until ``max_retries`` ran out."""

    def __init__(self, message: str, *, attempts: int, last_error: BaseException | None):
        super().__init__(message)
        self.attempts = attempts
        self.last_error = last_error


class StreamInterruptedError(GreyCloudError):
    """A stream broke after text had already been delivered.

    GreyCloud never repeats text, so it does not restart such a stream.
    ``partial_text`` holds everything that was yielded before the break.
    """

    def __init__(self, message: str, *, partial_text: str, cause: BaseException | None = None):
        super().__init__(message)
        self.partial_text = partial_text
        self.cause = cause


class RequestTooLargeError(GreyCloudError):
    """A single request needs more tokens than the tokens-per-minute limit allows."""

    def __init__(self, message: str, *, estimated_tokens: int, tpm: int):
        super().__init__(message)
        self.estimated_tokens = estimated_tokens
        self.tpm = tpm
