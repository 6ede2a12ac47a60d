"""Soak run: many requests with injected faults through one shared rate limiter.

Half the requests are unary, half streamed, all through one
`GreyCloudAsyncClient` (one `VertexRateLimiter`). The emulator enforces the same
request quota as the limiter, and a seeded random fraction of all attempts
gets a fault (429, 503, a dropped connection, or for streams a cut after
0-3 chunks). Every delivered text is checked against the deterministic answer:
a success must be exact, a broken stream a prefix. Used by
``test_soak.py`` (small) and ``benchmarks/bench_reliability.py`` (2,000).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from greycloud import GreyCloudAsyncClient
from greycloud.emulator import EmulatorServer
from greycloud.errors import GreyCloudError, StreamInterruptedError
from greycloud.rate_limiter import VertexRateLimiter
from greycloud.retry import RetryPolicy

UNARY, STREAM = "generateContent", "streamGenerateContent"
SOAK_RETRY = RetryPolicy(initial_delay=0.01, max_delay=0.1)
PROMPTS = tuple(f"Soak question {i} [[words={20 + 10 * i}]]" for i in range(8))


@dataclass
class SoakReport:
    """Figures of one soak run."""

    requests: int
    fault_rate: float
    attempts: int = 0
    faulted_attempts: int = 0
    succeeded: int = 0
    interrupted: int = 0  # streams cut after text: partial delivered, not retried
    failed: int = 0
    duplicated_or_lost: int = 0
    received_429: int = 0
    quota_429: int = 0  # 429s the emulator's own quota produced (the limiter should prevent them)
    injected: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    wall_seconds: float = 0.0

    @property
    def success_rate(self) -> float:
        """Requests that delivered the full answer, over all requests."""
        return self.succeeded / self.requests if self.requests else 0.0

    def to_json(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return {**asdict(self), "success_rate": round(self.success_rate, 4)}


def _queue_faults(
    emulator: EmulatorServer, action: str, count: int, rate: float, rng: random.Random
) -> None:
    """Queue ``count`` per-attempt verdicts for ``action``: a fault or a pass-through."""
    kinds = ["429", "503", "drop"] + (["cut"] if action == STREAM else [])
    for _ in range(count):
        if rng.random() >= rate:
            emulator.state.add_fault(None, action=action)  # no delay, no error: a normal answer
            continue
        kind = rng.choice(kinds)
        if kind == "429":
            emulator.state.add_fault(429, action=action)
        elif kind == "503":
            emulator.state.add_fault(503, action=action)
        elif kind == "drop":
            emulator.state.add_fault(action=action, drop_connection=True)
        else:
            emulator.state.add_fault(action=action, cut_after_chunks=rng.randint(0, 3))


async def run_soak(
    emulator: EmulatorServer,
    requests: int = 300,
    fault_rate: float = 0.2,
    *,
    seed: int = 7,
    rpm: int = 300,
    period: float = 1.0,
    max_concurrency: int = 20,
    latency: float = 0.005,
) -> SoakReport:
    """Send ``requests`` calls with ``fault_rate`` of attempts faulted; return the figures."""
    rng = random.Random(seed)
    state = emulator.state
    state.configure(latency=latency)
    limiter = VertexRateLimiter(rpm=rpm, tpm=10**9, max_concurrency=max_concurrency, period=period)
    report = SoakReport(requests=requests, fault_rate=fault_rate)
    async with GreyCloudAsyncClient(rate_limiter=limiter, retry_policy=SOAK_RETRY) as client:
        expected = {p: (await client.generate_content(p)).text or "" for p in PROMPTS}
        state.clear_log()
        state.set_quota(rpm=rpm, window_seconds=period)
        # Enough verdicts for every attempt (retries included); past the end, no faults.
        for action in (UNARY, STREAM):
            _queue_faults(emulator, action, requests * 2, fault_rate, rng)

        async def one(i: int) -> tuple[str, str, BaseException | None]:
            prompt = PROMPTS[i % len(PROMPTS)]
            pieces: list[str] = []
            try:
                if i % 2:
                    async for chunk in client.generate_with_retry(prompt, streaming=True):
                        pieces.append(chunk)
                else:
                    pieces.append((await client.generate_with_retry(prompt)).text or "")
            except GreyCloudError as exc:
                return prompt, "".join(pieces), exc
            return prompt, "".join(pieces), None

        started = time.monotonic()
        results = await asyncio.gather(*(one(i) for i in range(requests)))
        report.wall_seconds = round(time.monotonic() - started, 2)
        assert limiter.in_flight == 0, "limiter slots leaked"
    state.clear_faults()
    state.set_quota()
    errors: Counter[str] = Counter()
    for prompt, text, error in results:
        full = expected[prompt]
        if error is None:
            report.succeeded += 1
            ok = text == full
        elif isinstance(error, StreamInterruptedError):
            report.interrupted += 1
            ok = error.partial_text == text and full.startswith(text)
        else:
            report.failed += 1
            errors[type(error).__name__] += 1
            ok = text == ""
        report.duplicated_or_lost += not ok
    log = [r for r in state.requests if r.action in (UNARY, STREAM)]
    report.attempts = len(log)
    report.received_429 = sum(r.status == 429 for r in log)
    report.quota_429 = sum(r.status == 429 and r.fault in (None, "delay=0.0") for r in log)
    injected = Counter(r.fault for r in log if r.fault and r.fault != "delay=0.0")
    report.injected = dict(sorted(injected.items()))
    report.faulted_attempts = sum(injected.values())
    report.errors = dict(errors)
    return report
