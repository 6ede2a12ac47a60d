"""Benchmarks for greycloud-lsp against the in-process emulator.

Run: python benchmarks/bench_lsp.py [--quick]

Prints a table and writes JSON to benchmarks/results/. Measures:
token-count latency (didChange -> estimate, -> exact) for 10 KB / 1 MB / 10 MB
documents; countTokens API calls caused by a burst of 200 one-character edits;
emulator first SSE chunk -> first greycloud/generationChunk at the client; a
whole generate through the server vs GreyCloudAsyncClient alone; spawn ->
initialize result vs a minimal pygls server; resident memory with 200 open
documents; generate + countTokens with the project from a slow ``gcloud``
(1.5 s, no ``PROJECT_ID``) vs ``PROJECT_ID`` set, and how long a cheap request
waits meanwhile (a stalled event loop shows there).

The scenarios are in ``lsp_scenarios.py``, the timing client in
``lsp_bench_client.py``; this script runs them and prints the table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from bench_results import save_results
from lsp_scenarios import (
    DEBOUNCE_MS,
    cancel_latency,
    generation,
    memory,
    slow_gcloud,
    startup,
    token_latency,
)

from greycloud.emulator import EmulatorServer


async def main_async(quick: bool) -> dict[str, Any]:
    emulator = EmulatorServer().start()
    workdir = Path(tempfile.mkdtemp(prefix="bench-lsp-"))
    env = dict(os.environ)
    env.update(emulator.start_default_credentials(workdir))
    repeats = 3 if quick else 7
    sizes = {"10KB": 10_000, "1MB": 1_000_000, "10MB": 10_000_000}
    try:
        results = {
            "tokens": await token_latency(emulator, env, workdir, sizes, repeats),
            "generation": await generation(emulator, env, workdir, repeats),
            "generation_paced": await generation(
                emulator, env, workdir, repeats, latency=0.3, chunk_delay=0.02
            ),
            "cancel": await cancel_latency(emulator, env, workdir, repeats),
            "slow_gcloud": await slow_gcloud(emulator, env, workdir, repeats),
            "startup": await startup(env, workdir, repeats),
            "memory": await memory(env, workdir, 200),
        }
    finally:
        emulator.stop()
    return results


async def main_only(name: str, quick: bool) -> dict[str, Any]:
    emulator = EmulatorServer().start()
    workdir = Path(tempfile.mkdtemp(prefix="bench-lsp-"))
    env = dict(os.environ)
    env.update(emulator.start_default_credentials(workdir))
    try:
        return await slow_gcloud(emulator, env, workdir, 3 if quick else 7)
    finally:
        emulator.stop()


def print_table(results: dict[str, Any]) -> None:
    rows = []
    for label, data in results["tokens"].items():
        if isinstance(data, dict):
            rows.append((f"didChange -> estimate ({label})", f"{data['estimate_ms']} ms"))
            rows.append(
                (
                    f"didChange -> exact ({label}, debounce {DEBOUNCE_MS} ms)",
                    f"{data['exact_ms']} ms",
                )
            )
    rows.append(
        (
            "200 one-char edits -> countTokens calls",
            str(results["tokens"]["burst_200_edits_api_calls"]),
        )
    )
    for key, label in (("generation", "instant"), ("generation_paced", "paced")):
        g = results[key]
        rows.append(
            (
                f"first SSE chunk -> first generationChunk ({label})",
                f"{g['first_sse_chunk_to_client_chunk_ms']} ms",
            )
        )
        rows.append(
            (
                f"generate via server / direct ({label})",
                f"{g['generate_via_server_ms']} / {g['generate_direct_ms']} ms "
                f"(ratio {g['server_vs_direct_ratio']})",
            )
        )
    c = results["cancel"]
    rows.append(
        (
            "cancel -> upstream stream closed (progress / $/cancelRequest)",
            f"{c['progress_cancel_ms']} / {c['cancel_request_ms']} ms "
            f"(max {c['progress_cancel_max_ms']} / {c['cancel_request_max_ms']})",
        )
    )
    for label in ("project_id", "slow_gcloud"):
        g = results["slow_gcloud"][label]
        rows.append(
            (
                f"generate / countTokens, project from {label.replace('_', ' ')}",
                f"{g['generate_ms']} / {g['count_tokens_ms']} ms (first pair "
                f"{g['first_pair_ms']} ms, cheap request waits up to {g['probe_max_ms']} ms)",
            )
        )
    rows.append(
        (
            "slow gcloud / PROJECT_ID (generate + countTokens)",
            str(results["slow_gcloud"]["pair_ratio"]),
        )
    )
    s = results["startup"]
    rows.append(
        (
            "spawn -> initialize (greycloud-lsp / minimal pygls)",
            f"{s['greycloud_lsp_ms']} / {s['minimal_pygls_ms']} ms (ratio {s['ratio']})",
        )
    )
    for key, value in results["memory"].items():
        rows.append((key.replace("_", " "), f"{value} MB"))
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  value")
    print("-" * (width + 30))
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument(
        "--only", choices=["slow_gcloud"], help="run one measure and print its JSON"
    )
    args = parser.parse_args()
    if args.only:
        print(json.dumps(asyncio.run(main_only(args.only, args.quick)), indent=2))
        return
    results = asyncio.run(main_async(args.quick))
    print_table(results)
    print(f"\nwrote {save_results('bench_lsp', results, timestamped=True)}")


if __name__ == "__main__":
    main()
