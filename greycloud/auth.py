"""Credentials and `genai.Client` construction for Vertex AI.

Order of attempts for OAuth: Application Default Credentials (optionally
impersonating ``sa_email``), then ``gcloud auth print-access-token``. API-key
mode skips both. Every failure names the command or role that fixes it.

A config with its own ``environ`` (one editor session's, in the language-server
daemon) is resolved from that environment alone: its credentials file
(`credentials_file_of`), else its ``gcloud`` (found on its ``PATH``, run with its
``HOME`` and ``CLOUDSDK_*``). ``google.auth.default()``, which reads this
process's environment, is used only for ``os.environ`` (or no ``environ``).
"""

from __future__ import annotations

import datetime
import logging
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import google.auth
import google.auth.credentials
import google.auth.exceptions
from google import genai
from google.auth import impersonated_credentials
from google.genai import types
from google.oauth2 import credentials as oauth2_credentials

from greycloud.adc_files import credentials_file_of
from greycloud.errors import (
    ADC_LOGIN_HINT,
    TOKEN_CREATOR_ROLE,
    AuthenticationError,
)
from greycloud.gcloud_project import find_gcloud, gcloud_environment

if TYPE_CHECKING:
    from greycloud.config import GreyCloudConfig

logger = logging.getLogger(__name__)

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
GCLOUD_TOKEN_TIMEOUT_SECONDS = 15.0
# gcloud access tokens live one hour; refresh a little before that.
GCLOUD_TOKEN_LIFETIME = datetime.timedelta(minutes=55)
IAM_ENDPOINT_ENV = "GREYCLOUD_IAM_ENDPOINT"


def impersonation_hint(sa_email: str) -> str:
    """What a caller needs in order to impersonate ``sa_email``."""
    return (
        f"impersonating {sa_email} needs {TOKEN_CREATOR_ROLE} on that service account: "
        f"gcloud iam service-accounts add-iam-policy-binding {sa_email} "
        f"--member=user:YOU --role={TOKEN_CREATOR_ROLE}"
    )


def read_api_key(api_key: str | None = None, api_key_file: str | None = None) -> str:
    """The API key from ``api_key`` or the first line of ``api_key_file``."""
    if api_key:
        return api_key.strip()
    if api_key_file:
        path = Path(api_key_file).expanduser()
        if not path.is_file():
            raise AuthenticationError(
                f"API key file not found: {path}. Create it with the key on one line, "
                "or set api_key / GREYCLOUD_API_KEY instead."
            )
        key = path.read_text(encoding="utf-8").strip()
        if not key:
            raise AuthenticationError(f"API key file {path} is empty: put the key on one line.")
        return key
    raise AuthenticationError(
        "use_api_key is set but no key was given: set api_key (GREYCLOUD_API_KEY) "
        "or api_key_file (GREYCLOUD_API_KEY_FILE)."
    )


def _own_environment(environ: Mapping[str, str] | None) -> bool:
    """Whether ``environ`` is another environment than this process's (a session's)."""
    return environ is not None and environ is not os.environ


def _iam_endpoint_for(
    sa_email: str, iam_endpoint: str | None, environ: Mapping[str, str] | None = None
) -> str | None:
    base = iam_endpoint or (os.environ if environ is None else environ).get(IAM_ENDPOINT_ENV)
    if not base:
        return None
    return f"{base.rstrip('/')}/v1/projects/-/serviceAccounts/{sa_email}:generateAccessToken"


def gcloud_access_token(
    sa_email: str | None = None,
    *,
    timeout: float | None = None,
    environ: Mapping[str, str] | None = None,
) -> str:
    """An access token from ``gcloud auth print-access-token`` (never interactive).

    Bounded by ``timeout`` seconds (default ``GCLOUD_TOKEN_TIMEOUT_SECONDS``).
    ``environ``: whose ``gcloud`` (default this process's; see `gcloud_environment`).
    """
    timeout = GCLOUD_TOKEN_TIMEOUT_SECONDS if timeout is None else timeout
    environ = os.environ if environ is None else environ
    gcloud = find_gcloud(environ)
    if gcloud is None:
        raise AuthenticationError(
            f"No Google credentials found and gcloud is not installed: {ADC_LOGIN_HINT}."
        )
    argv = [gcloud, "auth", "print-access-token", "--quiet"]
    if sa_email:
        argv.append(f"--impersonate-service-account={sa_email}")
    try:
        completed = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            env=gcloud_environment(environ),
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise AuthenticationError(
            f"`gcloud auth print-access-token` did not answer within {timeout:g}s: "
            f"{ADC_LOGIN_HINT}."
        ) from None
    except OSError as exc:
        raise AuthenticationError(f"Could not run gcloud ({exc}): {ADC_LOGIN_HINT}.") from None
    token = completed.stdout.strip()
    if completed.returncode != 0 or not token:
        detail = completed.stderr.strip().splitlines()[-1:] or ["no output"]
        hint = impersonation_hint(sa_email) if sa_email else ADC_LOGIN_HINT
        raise AuthenticationError(f"gcloud could not print an access token ({detail[0]}): {hint}.")
    return token


def _gcloud_credentials(
    sa_email: str | None, environ: Mapping[str, str] | None = None
) -> google.auth.credentials.Credentials:
    def refresh(_request: Any, scopes: Any) -> tuple[str, datetime.datetime]:
        token = gcloud_access_token(sa_email, environ=environ)
        now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
        return token, now + GCLOUD_TOKEN_LIFETIME

    token, expiry = refresh(None, SCOPES)
    return oauth2_credentials.Credentials(token=token, expiry=expiry, refresh_handler=refresh)


def _credentials_from_file(path: str) -> google.auth.credentials.Credentials:
    """Any credentials file google-auth reads (service-account key, ``gcloud auth
    application-default login``, workload identity federation, ...)."""
    try:
        credentials, _project = google.auth.load_credentials_from_file(
            str(Path(path).expanduser()), scopes=list(SCOPES)
        )
    except google.auth.exceptions.DefaultCredentialsError as exc:
        raise AuthenticationError(
            f"cannot use the credentials file {path} ({exc}): fix "
            f"GOOGLE_APPLICATION_CREDENTIALS or {ADC_LOGIN_HINT}."
        ) from None
    return credentials


def load_credentials(
    sa_email: str | None = None,
    *,
    iam_endpoint: str | None = None,
    credentials_file: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> google.auth.credentials.Credentials:
    """OAuth credentials: ADC (impersonating ``sa_email`` if set), else gcloud.

    ``credentials_file`` (a key or ADC file) replaces the process's
    ``GOOGLE_APPLICATION_CREDENTIALS``, e.g. for one editor session.
    ``environ`` (another environment than ``os.environ``, e.g. one editor
    session's): without ``credentials_file`` go straight to that environment's
    gcloud; this process's Application Default Credentials are never used.
    """
    try:
        if credentials_file:
            source = _credentials_from_file(credentials_file)
        elif _own_environment(environ):
            logger.info("no credentials file in the session's environment; trying its gcloud")
            return _gcloud_credentials(sa_email, environ)
        else:
            source, _project = google.auth.default(scopes=list(SCOPES))
    except google.auth.exceptions.DefaultCredentialsError:
        logger.info("Application Default Credentials unavailable; trying gcloud")
        return _gcloud_credentials(sa_email, environ)
    if not sa_email:
        return source
    return impersonated_credentials.Credentials(
        source_credentials=source,
        target_principal=sa_email,
        target_scopes=list(SCOPES),
        lifetime=3600,
        iam_endpoint_override=_iam_endpoint_for(sa_email, iam_endpoint, environ),
    )


def create_client(
    project_id: str | None,
    location: str | None,
    sa_email: str | None = None,
    use_api_key: bool = False,
    *,
    api_key: str | None = None,
    api_key_file: str | None = None,
    endpoint: str | None = None,
    iam_endpoint: str | None = None,
    timeout: float | None = None,
    credentials: google.auth.credentials.Credentials | None = None,
) -> genai.Client:
    """A `genai.Client` for Vertex AI.

    The SDK's own retries are switched off (one attempt per call; without
    explicit options its aiohttp path quietly retries dropped connections):
    GreyCloud retries in exactly one place. ``timeout`` is in seconds.
    """
    http_options = types.HttpOptions(
        base_url=endpoint,
        timeout=int(timeout * 1000) if timeout else None,
        retry_options=types.HttpRetryOptions(attempts=1),
    )
    if use_api_key:
        key = read_api_key(api_key, api_key_file)
        return genai.Client(vertexai=True, api_key=key, http_options=http_options)
    if not project_id:
        raise AuthenticationError(
            "No Google Cloud project: set project_id (PROJECT_ID) or run "
            "`gcloud config set project PROJECT_ID`."
        )
    if credentials is None:
        credentials = load_credentials(sa_email, iam_endpoint=iam_endpoint)
    return genai.Client(
        vertexai=True,
        project=project_id,
        location=location,
        credentials=credentials,
        http_options=http_options,
    )


def credentials_from_config(config: GreyCloudConfig) -> google.auth.credentials.Credentials | None:
    """The OAuth credentials ``config`` selects, or None in API-key mode."""
    if config.use_api_key:
        return None
    return load_credentials(
        config.sa_email,
        iam_endpoint=config.iam_endpoint,
        credentials_file=_credentials_file(config),
        environ=config.environ,
    )


def _credentials_file(config: GreyCloudConfig) -> str | None:
    """The credentials file of the config's own ``environ`` (`adc_files`), if it has one."""
    return credentials_file_of(config.environ) if config.environ is not None else None


def client_from_config(
    config: GreyCloudConfig,
    *,
    credentials: google.auth.credentials.Credentials | None = None,
) -> genai.Client:
    """`create_client` with every option taken from ``config``.

    Runs a ``gcloud`` project look-up that ``config`` deferred (blocking: async
    code calls this in a worker thread). Credentials come from ``config.environ``
    when it has one (see the module docstring).
    """
    project = config.resolve_project_id()
    needs_own = _credentials_file(config) or _own_environment(config.environ)
    if credentials is None and needs_own and project and not config.use_api_key:
        credentials = credentials_from_config(config)
    return create_client(
        project,
        config.location,
        config.sa_email,
        bool(config.use_api_key),
        api_key=config.api_key,
        api_key_file=config.api_key_file,
        endpoint=config.endpoint,
        iam_endpoint=config.iam_endpoint,
        timeout=config.request_timeout,
        credentials=credentials,
    )
