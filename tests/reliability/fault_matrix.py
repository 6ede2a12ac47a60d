"""The fault matrix: one table of injected faults, run against every GreyCloud front end.

Each `Row` says which faults the emulator injects and what must happen: how
many attempts reach the server, the final outcome, words the error must
contain, and (always) that the text delivered is the deterministic answer, or
a prefix of it when a stream breaks after text was yielded. The same table
drives ``tests/reliability/test_fault_matrix.py`` and
``benchmarks/bench_reliability.py``.

Runners: `run_sync` (`GreyCloudClient`), `run_async` (`GreyCloudAsyncClient`)
and `run_lsp` (``greycloud.generate`` over a live ``greycloud-lsp``).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from greycloud import GreyCloudAsyncClient, GreyCloudClient, GreyCloudConfig
from greycloud.emulator import EmulatorServer
from greycloud.errors import GreyCloudError
from greycloud.retry import RetryPolicy

FAST_RETRY = RetryPolicy(initial_delay=0.01, max_delay=0.05)
UNARY, STREAM = "generateContent", "streamGenerateContent"
PERMISSION_MESSAGE = "Permission 'aiplatform.endpoints.predict' denied on resource"
INVALID_MESSAGE = "Invalid value at 'contents[0].parts[0]': unsupported part"


@dataclass(frozen=True)
class Row:
    """One fault scenario and its expected result.

    ``faults`` are ``EmulatorState.add_fault`` keyword arguments (the action is
    filled in per mode). ``attempts``/``outcome``/``error_text`` describe the
    library clients (``max_retries``); ``lsp_*`` override them for the
    language server, which uses the library's default policy (5 retries,
    1 s initial backoff). ``modes`` limits the row to unary or stream calls.
    """

    name: str
    faults: tuple[dict[str, Any], ...] = ()
    attempts: int = 2
    outcome: str = "ok"
    error_text: tuple[str, ...] = ()
    modes: tuple[str, ...] = (UNARY, STREAM)
    max_retries: int = 2
    request_timeout: float | None = None
    expire_tokens: bool = False
    min_gap: float = 0.0  # least time between the end of attempt 1 and the start of attempt 2
    words: int = 60
    lsp: bool = True
    lsp_attempts: int | None = None
    lsp_error_text: tuple[str, ...] | None = None


ROWS: tuple[Row, ...] = (
    Row("429 with Retry-After", ({"status": 429, "retry_after": 0.3},), min_gap=0.28),
    Row("429 without Retry-After", ({"status": 429},)),
    Row(
        "429 with Google's RetryInfo, no Retry-After",
        ({"status": 429, "quota": "per_minute", "retry_delay": 0.3},),
        min_gap=0.28,
    ),
    Row(
        "429 saying 'Please retry in' without details",
        ({"status": 429, "message": "Resource exhausted. Please retry in 0.3s."},),
        min_gap=0.28,
    ),
    Row(
        "429 in the stream body before any text",
        (
            {
                "status": 429,
                "quota": "per_minute",
                "retry_delay": 0.3,
                "stream_error_after_chunks": 0,
            },
        ),
        modes=(STREAM,),
        min_gap=0.28,
    ),
    Row(
        "per-day quota",
        ({"status": 429, "quota": "per_day", "retry_delay": 0.05, "times": None},),
        attempts=1,
        outcome="QuotaExhaustedError",
        error_text=("GenerateRequestsPerDayPerProjectPerModel", "resets daily"),
    ),
    Row(
        "per-day quota in the stream body",
        ({"status": 429, "quota": "per_day", "stream_error_after_chunks": 0, "times": None},),
        attempts=1,
        outcome="QuotaExhaustedError",
        error_text=("GenerateRequestsPerDayPerProjectPerModel", "resets daily"),
        modes=(STREAM,),
    ),
    Row("500", ({"status": 500},)),
    Row("502", ({"status": 502},)),
    Row("503", ({"status": 503},)),
    Row("504", ({"status": 504},)),
    Row(
        "503 until retries run out",
        ({"status": 503, "times": None},),
        attempts=3,
        outcome="RetriesExhaustedError",
        error_text=("3 attempt(s)", "503", "try again later"),
        lsp=False,  # the default policy would back off for ~30 s
    ),
    Row(
        "429 until retries run out",
        ({"status": 429, "retry_after": 0.05, "times": None},),
        attempts=3,
        outcome="RetriesExhaustedError",
        error_text=("3 attempt(s)", "429", "lower the request rate"),
        lsp_attempts=6,
        lsp_error_text=("6 attempt(s)", "429", "lower the request rate"),
    ),
    Row("dropped connection before the response", ({"drop_connection": True},)),
    Row(
        "stream cut before the first chunk",
        ({"cut_after_chunks": 0},),
        modes=(STREAM,),
    ),
    Row(
        "stream cut after 3 chunks",
        ({"cut_after_chunks": 3},),
        attempts=1,
        outcome="StreamInterruptedError",
        error_text=("partial_text", "not retried"),
        modes=(STREAM,),
        words=120,
    ),
    Row("401 from an expired token", expire_tokens=True),
    Row(
        "401 after the refresh too",
        ({"status": 401, "times": None},),
        attempts=2,
        outcome="AuthenticationError",
        error_text=("gcloud auth application-default login",),
    ),
    Row(
        "403",
        ({"status": 403, "message": PERMISSION_MESSAGE},),
        attempts=1,
        outcome="PermissionDeniedError",
        error_text=("roles/aiplatform.user", "aiplatform.endpoints.predict"),
    ),
    Row(
        "400",
        ({"status": 400, "message": INVALID_MESSAGE},),
        attempts=1,
        outcome="APICallError",
        error_text=("400", "INVALID_ARGUMENT", "unsupported part"),
    ),
    Row(
        "slow response past the timeout",
        ({"status": None, "delay": 2.0},),
        request_timeout=0.8,
    ),
    Row(
        "slow until retries run out",
        ({"status": None, "delay": 1.5, "times": None},),
        attempts=2,
        max_retries=1,
        outcome="RetriesExhaustedError",
        error_text=("2 attempt(s)", "Timeout", "request_timeout"),
        request_timeout=0.5,
        lsp=False,
    ),
)


@dataclass
class Outcome:
    """What one row did on one front end."""

    row: Row
    front: str
    mode: str
    attempts: int
    outcome: str
    error: str
    text: str
    expected: str
    statuses: list[int | None] = field(default_factory=list)
    gaps: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def text_check(self) -> str:
        """``"exact"``, ``"prefix"`` (a broken stream), or what went wrong."""
        if self.text == self.expected:
            return "exact"
        if self.outcome == "ok":
            return "duplicated" if len(self.text) > len(self.expected) else "lost"
        if not self.text:
            return "none delivered"
        return "prefix" if self.expected.startswith(self.text) else "corrupted"

    def problems(self) -> list[str]:
        """Every way this outcome differs from the row's expectation (empty: pass)."""
        row, lsp = self.row, self.front == "lsp"
        want_attempts = (row.lsp_attempts if lsp else None) or row.attempts
        words = (row.lsp_error_text if lsp else None) or row.error_text
        found = []
        if self.attempts != want_attempts:
            found.append(f"attempts {self.attempts} != {want_attempts} ({self.statuses})")
        if self.outcome != ("RequestFailed" if lsp and row.outcome != "ok" else row.outcome):
            found.append(f"outcome {self.outcome} ({self.error})")
        found.extend(f"error lacks {w!r}: {self.error}" for w in words if w not in self.error)
        if row.outcome == "ok" and self.text_check != "exact":
            found.append(f"text {self.text_check}")
        if row.outcome == "StreamInterruptedError" and self.text_check != "prefix":
            found.append(f"partial text {self.text_check}")
        if row.outcome not in ("ok", "StreamInterruptedError") and self.text:
            found.append("text delivered despite the error")
        if row.min_gap and (not self.gaps or min(self.gaps) < row.min_gap):
            found.append(f"Retry-After not honoured: gaps {self.gaps}")
        if any(w in self.error for w in ("ya29.", "Bearer ", "-----BEGIN")):
            found.append("secret in error text")
        return found


def prompt_for(row: Row, front: str, mode: str) -> str:
    """A distinct prompt per run, so answers never come from an earlier run."""
    return f"Fault matrix {row.name} {front} {mode} [[words={row.words}]]"


def _arm(emulator: EmulatorServer, row: Row, action: str) -> None:
    emulator.state.clear_log()
    for fault in row.faults:
        emulator.state.add_fault(**{"action": action, **fault})
    if row.expire_tokens:
        emulator.state.expire_all_tokens()


def _finish(
    emulator: EmulatorServer,
    row: Row,
    front: str,
    mode: str,
    started: float,
    *,
    text: str,
    expected: str,
    error: BaseException | None,
    outcome: str | None = None,
) -> Outcome:
    log = emulator.state.requests_for(mode)
    gaps = [b.time - a.end_time for a, b in itertools.pairwise(log) if a.end_time is not None]
    emulator.state.clear_faults()
    return Outcome(
        row=row,
        front=front,
        mode=mode,
        attempts=len(log),
        outcome=outcome or ("ok" if error is None else type(error).__name__),
        error="" if error is None else str(error),
        text=text,
        expected=expected,
        statuses=[r.status for r in log],
        gaps=[round(g, 3) for g in gaps],
        seconds=round(time.monotonic() - started, 3),
    )


def _config(row: Row) -> GreyCloudConfig:
    return GreyCloudConfig(request_timeout=row.request_timeout)


def run_sync(emulator: EmulatorServer, row: Row, mode: str) -> Outcome:
    """Run ``row`` through `GreyCloudClient.generate_with_retry`."""
    prompt = prompt_for(row, "sync", mode)
    with GreyCloudClient(_config(row), retry_policy=FAST_RETRY) as client:
        expected = client.generate_content(prompt).text or ""
        _arm(emulator, row, mode)
        started = time.monotonic()
        pieces: list[str] = []
        error: BaseException | None = None
        try:
            if mode == STREAM:
                for chunk in client.generate_with_retry(prompt, row.max_retries, streaming=True):
                    pieces.append(chunk)
            else:
                pieces.append(client.generate_with_retry(prompt, row.max_retries).text or "")
        except GreyCloudError as exc:
            error = exc
    return _finish(
        emulator, row, "sync", mode, started, text="".join(pieces), expected=expected, error=error
    )


async def run_async(emulator: EmulatorServer, row: Row, mode: str) -> Outcome:
    """Run ``row`` through `GreyCloudAsyncClient.generate_with_retry`."""
    prompt = prompt_for(row, "async", mode)
    async with GreyCloudAsyncClient(_config(row), retry_policy=FAST_RETRY) as client:
        expected = (await client.generate_content(prompt)).text or ""
        _arm(emulator, row, mode)
        started = time.monotonic()
        pieces: list[str] = []
        error: BaseException | None = None
        try:
            if mode == STREAM:
                stream = client.generate_with_retry(prompt, row.max_retries, streaming=True)
                async for chunk in stream:
                    pieces.append(chunk)
            else:
                response = await client.generate_with_retry(prompt, row.max_retries)
                pieces.append(response.text or "")
        except GreyCloudError as exc:
            error = exc
        assert client.rate_limiter.in_flight == 0, "limiter slot leaked"
    return _finish(
        emulator, row, "async", mode, started, text="".join(pieces), expected=expected, error=error
    )


async def run_lsp(emulator: EmulatorServer, row: Row, client: Any, recorder: Any) -> Outcome:
    """Run ``row`` through ``greycloud.generate`` on a started, initialised server.

    ``recorder`` collects ``greycloud/generationChunk`` notifications
    (``tests.lsp.lsp_helpers.Recorder``); the text is what those chunks carried.
    """
    from lsprotocol import types
    from pygls.exceptions import JsonRpcException

    prompt = prompt_for(row, "lsp", STREAM)

    async def generate() -> Any:
        return await asyncio.wait_for(
            client.workspace_execute_command_async(
                types.ExecuteCommandParams(
                    command="greycloud.generate", arguments=[{"prompt": prompt}]
                )
            ),
            60,
        )

    expected = (await generate())["text"]
    _arm(emulator, row, STREAM)
    recorder.notifications.clear()
    started = time.monotonic()
    error: BaseException | None = None
    partial = None
    try:
        result = await generate()
    except JsonRpcException as exc:
        error = exc
        data = getattr(exc, "data", None)
        partial = data.get("partialText") if isinstance(data, dict) else None
    chunks = "".join(c["text"] for c in recorder.of("greycloud/generationChunk"))
    if error is None and result["text"] != chunks:
        chunks = f"<result {result['text']!r} != chunks {chunks!r}>"
    if partial is not None and partial != chunks:
        chunks = f"<partialText {partial!r} != chunks {chunks!r}>"
    return _finish(
        emulator,
        row,
        "lsp",
        STREAM,
        started,
        text=chunks,
        expected=expected,
        error=error,
        outcome=None if error is None else "RequestFailed",
    )
