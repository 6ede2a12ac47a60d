"""Reliability benchmark: the fault matrix and a 2,000-request soak, against the emulator.

1. Fault matrix: every row of ``tests/reliability/fault_matrix.py`` on the sync
   client, the async client (unary and streaming) and ``greycloud-lsp``'s
   ``greycloud.generate``: attempts the emulator saw, outcome, error text and
   whether any text was duplicated or lost.
2. Soak: N requests (default 2,000; half streamed) with 20% of attempts
   faulted (429 / 503 / dropped connection / stream cut) through one shared
   `GreyCloudAsyncClient` limiter, the emulator enforcing the same quota:
   success rate, 429s received, quota 429s, wall time.

Run: ``python benchmarks/bench_reliability.py [--requests 2000] [--skip-lsp]``
(prints tables, writes benchmarks/results/bench_reliability.json).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["NO_GCE_CHECK"] = "true"  # google-auth reads it at import: never probe a metadata server

from bench_results import save_results  # sibling module  # noqa: E402

from greycloud.emulator import EmulatorServer  # noqa: E402
from tests.reliability.fault_matrix import (  # noqa: E402
    ROWS,
    STREAM,
    Outcome,
    run_async,
    run_lsp,
    run_sync,
)
from tests.reliability.soak import SoakReport, run_soak  # noqa: E402


def _clean_environment(emulator: EmulatorServer, directory: str) -> None:
    """Point ADC at the emulator; drop any ambient Google/GreyCloud configuration."""
    for name in list(os.environ):
        if name.startswith(("GREYCLOUD_", "GOOGLE_", "CLOUDSDK_", "GCLOUD_")) or name in (
            "PROJECT_ID",
            "LOCATION",
            "GEMINI_API_KEY",
        ):
            del os.environ[name]
    os.environ.update(emulator.start_default_credentials(directory))
    os.environ["GCE_METADATA_HOST"] = os.environ["GCE_METADATA_IP"] = "127.0.0.1:9"


async def _lsp_rows(emulator: EmulatorServer) -> list[Outcome]:
    from lsprotocol import types
    from pytest_lsp import ClientServerConfig, client_capabilities

    from tests.lsp.lsp_helpers import Recorder

    outcomes = []
    for row in (r for r in ROWS if r.lsp):
        env = dict(os.environ)
        if row.request_timeout:
            env["GREYCLOUD_REQUEST_TIMEOUT"] = str(row.request_timeout)
        config = ClientServerConfig(
            server_command=[sys.executable, "-m", "greycloud_lsp", "--standalone"], server_env=env
        )
        client = await config.start()
        recorder = Recorder(client)
        try:
            await client.initialize_session(
                types.InitializeParams(
                    capabilities=client_capabilities("visual-studio-code"),
                    root_uri=Path(tempfile.gettempdir()).as_uri(),
                )
            )
            outcomes.append(await run_lsp(emulator, row, client, recorder))
            await asyncio.wait_for(client.shutdown_session(), 10)
        finally:
            await client.stop()
    return outcomes


def fault_matrix(emulator: EmulatorServer, with_lsp: bool) -> list[Outcome]:
    """Every row on every front end."""
    outcomes: list[Outcome] = []
    for row in ROWS:
        for mode in row.modes:
            emulator.state.reset()
            outcomes.append(run_sync(emulator, row, mode))
            emulator.state.reset()
            outcomes.append(asyncio.run(run_async(emulator, row, mode)))
    if with_lsp:
        emulator.state.reset()
        outcomes.extend(asyncio.run(_lsp_rows(emulator)))
    return outcomes


def _short(text: str, width: int = 78) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def print_matrix(outcomes: list[Outcome]) -> None:
    header = (
        f"{'row':<40} {'front':<5} {'mode':<6} {'att':>3} {'outcome':<24} "
        f"{'text':<14} {'pass':<4} error"
    )
    print(header)
    print("-" * len(header))
    for o in outcomes:
        mode = "stream" if o.mode == STREAM else "unary"
        verdict = "yes" if not o.problems() else "NO"
        print(
            f"{o.row.name:<40} {o.front:<5} {mode:<6} {o.attempts:>3} {o.outcome:<24} "
            f"{o.text_check:<14} {verdict:<4} {_short(o.error)}"
        )


def print_soak(report: SoakReport) -> None:
    rows = [
        ("requests", report.requests),
        ("attempts reaching the emulator", report.attempts),
        ("faulted attempts", f"{report.faulted_attempts} ({report.injected})"),
        ("succeeded (full, exact answer)", report.succeeded),
        ("streams cut after text (prefix kept, not retried)", report.interrupted),
        ("failed", f"{report.failed} {report.errors or ''}"),
        ("success rate", f"{report.success_rate:.2%}"),
        ("duplicated or lost text", report.duplicated_or_lost),
        ("429s received (all injected)", report.received_429),
        ("429s from the emulator's quota", report.quota_429),
        ("wall time", f"{report.wall_seconds} s"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument("--rpm", type=int, default=250, help="limiter and quota, per --period")
    parser.add_argument("--period", type=float, default=1.0)
    parser.add_argument("--skip-lsp", action="store_true")
    args = parser.parse_args(argv)

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as directory, EmulatorServer() as emulator:
        _clean_environment(emulator, directory)
        started = time.monotonic()
        outcomes = fault_matrix(emulator, not args.skip_lsp)
        print(f"\nFault matrix ({len(outcomes)} runs, {time.monotonic() - started:.1f} s)\n")
        print_matrix(outcomes)
        emulator.state.reset()
        report = asyncio.run(
            run_soak(
                emulator,
                args.requests,
                args.fault_rate,
                rpm=args.rpm,
                period=args.period,
            )
        )
        print(f"\nSoak ({args.requests} requests, {args.fault_rate:.0%} of attempts faulted)\n")
        print_soak(report)
    results["fault_matrix"] = [
        {
            "row": o.row.name,
            "front": o.front,
            "mode": "stream" if o.mode == STREAM else "unary",
            "attempts": o.attempts,
            "statuses": o.statuses,
            "outcome": o.outcome,
            "error": o.error,
            "text": o.text_check,
            "problems": o.problems(),
            "seconds": o.seconds,
        }
        for o in outcomes
    ]
    results["soak"] = report.to_json()
    out = save_results("bench_reliability", results)
    print(f"\nwrote {out}")
    failures = [o for o in outcomes if o.problems()]
    return 1 if failures or report.duplicated_or_lost else 0


if __name__ == "__main__":
    sys.exit(main())
