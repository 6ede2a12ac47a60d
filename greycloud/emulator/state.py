"""Mutable, thread-safe state of the Vertex AI emulator.

The server runs on its own event loop thread while tests read and program the
state from the main thread, so every mutation goes through a method guarded
by one re-entrant lock. Times are ``time.monotonic()`` seconds.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from greycloud.emulator.errors import QUOTA_SHAPES
from greycloud.rules import DEFAULT_TPM_COUNTS, tpm_counts_name

DEFAULT_API_KEY = "emulator-api-key"
DEFAULT_TOKEN_LIFETIME = 3600.0
DEFAULT_STREAM_CHUNK_TOKENS = 8
MODEL_ACTIONS = frozenset(
    {
        "generateContent",
        "streamGenerateContent",
        "countTokens",
        "predict",  # embeddings (greycloud.emulator.embeddings)
        "embedContent",
        "batchEmbedContents",
    }
)


@dataclass
class RecordedRequest:
    """One request as the emulator saw it."""

    time: float
    method: str
    path: str
    action: str | None = None
    model: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    status: int | None = None
    fault: str | None = None
    end_time: float | None = None
    first_chunk_time: float | None = None
    principal: str | None = None
    project: str | None = None
    client_disconnected: bool = False

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return asdict(self)


@dataclass
class Fault:
    """A queued fault; ``times=None`` means it never runs out.

    ``quota`` (``"per_minute"``, ``"per_day"``, ``"tokens_per_minute"``) shapes
    the error as Google's quota 429: ``google.rpc.QuotaFailure`` with a limit of
    ``quota_value``, plus ``google.rpc.RetryInfo`` when ``retry_delay`` is set.
    ``stream_error_after_chunks`` sends the error inside a 200 stream body after
    that many chunks (0: before any text), as Google does.
    """

    status: int | None = 503
    action: str | None = None
    times: int | None = 1
    retry_after: float | None = None
    message: str | None = None
    drop_connection: bool = False
    cut_after_chunks: int | None = None
    delay: float = 0.0
    quota: str | None = None
    quota_value: int = 60
    retry_delay: float | None = None
    stream_error_after_chunks: int | None = None

    def matches(self, action: str) -> bool:
        """Whether this fault applies to ``action``.

        ``None`` means any model route, or only streams for the in-stream faults.
        """
        in_stream = self.cut_after_chunks is not None or self.stream_error_after_chunks is not None
        if self.action is None and in_stream:
            return action == "streamGenerateContent"
        if self.action is None:
            return action in MODEL_ACTIONS
        return self.action == action

    def describe(self) -> str:
        """Short label stored on the recorded request."""
        if self.drop_connection:
            return "drop_connection"
        if self.cut_after_chunks is not None:
            return f"cut_after_chunks={self.cut_after_chunks}"
        if self.status is None or self.status == 200:
            return f"delay={self.delay}"
        where = (
            f" in stream after {self.stream_error_after_chunks}"
            if self.stream_error_after_chunks is not None
            else ""
        )
        return f"status={self.status}{where}"


@dataclass
class TokenInfo:
    """An issued access token."""

    principal: str
    expires_at: float


@dataclass
class Quota:
    """Sliding-window request/token limits per project, and requests per day.

    ``tpm`` counts what ``tpm_counts`` names (`greycloud.rules.TPM_COUNTS`): by
    default input tokens, cached ones included, as Vertex AI's Gemini quota
    ``generate_content_input_tokens_per_minute_per_base_model`` does.
    """

    rpm: int | None = None
    tpm: int | None = None
    window_seconds: float = 60.0
    rpd: int | None = None
    tpm_counts: str = DEFAULT_TPM_COUNTS


@dataclass(frozen=True)
class OverQuota:
    """Why a request was refused: the quota shape, its limit, when it frees up."""

    kind: str
    limit: int
    retry_delay: float | None = None


class EmulatorState:
    """Everything the emulator knows: tokens, keys, quotas, faults and the log."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.tokens: dict[str, TokenInfo] = {}
        self._set_defaults()

    def _set_defaults(self) -> None:
        self.api_keys: set[str] = {DEFAULT_API_KEY}
        self.service_account_keys: dict[str, bytes] = {}
        self.denied_impersonation: set[str] = set()
        self.impersonators: set[str] | None = None
        self.requests: list[RecordedRequest] = []
        self.faults: deque[Fault] = deque()
        self.quota = Quota()
        self.quota_retry_after: float | None = None
        self._usage: dict[str, deque[tuple[float, int]]] = {}
        self._daily: dict[str, int] = {}
        self.latency = 0.0
        self.stream_chunk_tokens = DEFAULT_STREAM_CHUNK_TOKENS
        self.stream_chunk_delay = 0.0
        self.token_lifetime = DEFAULT_TOKEN_LIFETIME
        # Stores owned by route modules (cached contents, batch jobs), by name.
        self.extensions: dict[str, Any] = {}

    def reset(self, *, keep_tokens: bool = True) -> None:
        """Restore defaults; issued tokens stay valid unless ``keep_tokens=False``."""
        with self._lock:
            self._set_defaults()
            if not keep_tokens:
                self.tokens = {}

    def configure(
        self,
        *,
        latency: float | None = None,
        stream_chunk_tokens: int | None = None,
        stream_chunk_delay: float | None = None,
        token_lifetime: float | None = None,
        quota_retry_after: float | None = None,
    ) -> None:
        """Change timing knobs; ``None`` leaves a value unchanged."""
        with self._lock:
            if latency is not None:
                self.latency = float(latency)
            if stream_chunk_tokens is not None:
                self.stream_chunk_tokens = max(1, int(stream_chunk_tokens))
            if stream_chunk_delay is not None:
                self.stream_chunk_delay = float(stream_chunk_delay)
            if token_lifetime is not None:
                self.token_lifetime = float(token_lifetime)
            if quota_retry_after is not None:
                self.quota_retry_after = float(quota_retry_after)

    # -- tokens and keys -------------------------------------------------

    def issue_token(
        self, principal: str = "gcloud-user", lifetime: float | None = None, prefix: str = "emu"
    ) -> str:
        """Mint an access token for ``principal`` valid for ``lifetime`` seconds."""
        with self._lock:
            life = self.token_lifetime if lifetime is None else lifetime
            token = f"ya29.{prefix}-{secrets.token_urlsafe(24)}"
            self.tokens[token] = TokenInfo(principal, time.monotonic() + life)
            return token

    def principal_for(self, token: str) -> str | None:
        """Return the principal of a known, unexpired token, else ``None``."""
        with self._lock:
            info = self.tokens.get(token)
            if info is None or info.expires_at <= time.monotonic():
                return None
            return info.principal

    def expire_all_tokens(self) -> None:
        """Make every issued token invalid (clients then see 401)."""
        with self._lock:
            for info in self.tokens.values():
                info.expires_at = 0.0

    def revoke_token(self, token: str) -> None:
        """Forget one token."""
        with self._lock:
            self.tokens.pop(token, None)

    def add_api_key(self, key: str) -> None:
        """Accept ``key`` in ``x-goog-api-key``."""
        with self._lock:
            self.api_keys.add(key)

    def register_service_account(self, client_email: str, public_key_pem: str | bytes) -> None:
        """Verify RS256 assertions from ``client_email`` against this public key."""
        pem = public_key_pem.encode() if isinstance(public_key_pem, str) else public_key_pem
        with self._lock:
            self.service_account_keys[client_email] = pem

    def deny_impersonation(self, target_email: str) -> None:
        """Make ``generateAccessToken`` for ``target_email`` return 403."""
        with self._lock:
            self.denied_impersonation.add(target_email)

    def may_impersonate(self, caller: str, target: str) -> bool:
        """Whether ``caller`` may mint tokens for ``target``."""
        with self._lock:
            if target in self.denied_impersonation:
                return False
            return self.impersonators is None or caller in self.impersonators

    # -- faults ----------------------------------------------------------

    def add_fault(
        self,
        status: int | None = 503,
        *,
        action: str | None = None,
        times: int | None = 1,
        retry_after: float | None = None,
        message: str | None = None,
        drop_connection: bool = False,
        cut_after_chunks: int | None = None,
        delay: float = 0.0,
        quota: str | None = None,
        quota_value: int = 60,
        retry_delay: float | None = None,
        stream_error_after_chunks: int | None = None,
    ) -> Fault:
        """Queue a fault (FIFO); each matching request consumes one use.

        ``status=None`` (or 200) with ``delay`` gives a slow but normal answer.
        ``action=None`` matches generate/stream/countTokens; name ``"token"`` or
        ``"generateAccessToken"`` explicitly to fault the auth endpoints.
        ``quota``/``quota_value``/``retry_delay`` shape a Google quota 429 and
        ``stream_error_after_chunks`` puts the error in a stream body (see `Fault`).
        """
        if quota is not None:
            if quota not in QUOTA_SHAPES:
                raise ValueError(f"quota={quota!r}: use one of {sorted(QUOTA_SHAPES)}")
        if stream_error_after_chunks is not None and stream_error_after_chunks < 0:
            raise ValueError("stream_error_after_chunks must be 0 or more")
        fault = Fault(
            status=status,
            action=action,
            times=times,
            retry_after=retry_after,
            message=message,
            drop_connection=drop_connection,
            cut_after_chunks=cut_after_chunks,
            delay=delay,
            quota=quota,
            quota_value=quota_value,
            retry_delay=retry_delay,
            stream_error_after_chunks=stream_error_after_chunks,
        )
        with self._lock:
            self.faults.append(fault)
        return fault

    def take_fault(self, action: str) -> Fault | None:
        """Consume one use of the first queued fault matching ``action``."""
        with self._lock:
            for fault in self.faults:
                if not fault.matches(action):
                    continue
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                return fault
            return None

    def clear_faults(self) -> None:
        """Drop every queued fault."""
        with self._lock:
            self.faults.clear()

    # -- quota -----------------------------------------------------------

    def set_quota(
        self,
        rpm: int | None = None,
        tpm: int | None = None,
        window_seconds: float = 60.0,
        rpd: int | None = None,
        tpm_counts: str = DEFAULT_TPM_COUNTS,
    ) -> None:
        """Limit requests and tokens per project in a sliding window, and requests per day.

        ``tpm_counts`` is what ``tpm`` counts: ``input`` (default, as Vertex AI),
        ``uncached-input`` or ``total``. The "day" is the emulator's lifetime (or
        until the next `set_quota`/`reset`).
        """
        counts = tpm_counts_name(tpm_counts)
        with self._lock:
            self.quota = Quota(rpm, tpm, float(window_seconds), rpd, counts)
            self._usage = {}
            self._daily = {}

    def charge_quota(self, project: str, tokens: int, now: float | None = None) -> OverQuota | None:
        """Charge one request of ``tokens`` (as ``tpm_counts`` counts); say what refuses it.

        A window quota's ``retry_delay`` is when enough of the window has passed
        for this request to fit (the whole window if it can never fit).
        """
        with self._lock:
            quota = self.quota
            if quota.rpd is not None and self._daily.get(project, 0) + 1 > quota.rpd:
                return OverQuota("per_day", quota.rpd)
            if quota.rpm is None and quota.tpm is None:
                self._daily[project] = self._daily.get(project, 0) + 1
                return None
            now = time.monotonic() if now is None else now
            window = quota.window_seconds
            usage = self._usage.setdefault(project, deque())
            while usage and usage[0][0] <= now - window:
                usage.popleft()
            if quota.rpm is not None and len(usage) + 1 > quota.rpm:
                must_leave = len(usage) + 1 - quota.rpm
                wait = (
                    usage[must_leave - 1][0] + window - now if must_leave <= len(usage) else window
                )
                return OverQuota("per_minute", quota.rpm, wait)
            used = sum(t for _, t in usage)
            if quota.tpm is not None and used + tokens > quota.tpm:
                kind = "total_tokens_per_minute" if quota.tpm_counts == "total" else None
                return OverQuota(
                    kind or "tokens_per_minute",
                    quota.tpm,
                    self._tokens_free(usage, used + tokens - quota.tpm, now),
                )
            usage.append((now, tokens))
            self._daily[project] = self._daily.get(project, 0) + 1
            return None

    def _tokens_free(self, usage: deque[tuple[float, int]], excess: int, now: float) -> float:
        """Seconds until ``excess`` tokens have left the window."""
        window = self.quota.window_seconds
        for when, tokens in usage:
            excess -= tokens
            if excess <= 0:
                return when + window - now
        return window

    # -- request log -----------------------------------------------------

    def record(self, entry: RecordedRequest) -> RecordedRequest:
        """Append ``entry`` to the log."""
        with self._lock:
            self.requests.append(entry)
        return entry

    def requests_for(self, action: str) -> list[RecordedRequest]:
        """Logged requests for one action, oldest first."""
        with self._lock:
            return [r for r in self.requests if r.action == action]

    def clear_log(self) -> None:
        """Forget logged requests."""
        with self._lock:
            self.requests = []

    def snapshot(self) -> list[dict[str, Any]]:
        """The log as JSON-serialisable dicts."""
        with self._lock:
            return [r.to_json() for r in self.requests]
