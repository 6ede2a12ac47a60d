"""tpm-bound benchmark: short prompts, long answers, the token quota the binding limit.

The emulator (its own process) enforces ``tpm`` input tokens per window, as
Vertex AI's Gemini quota does, and answers 429 beyond it. A backlog of
requests with an 11-token prompt and a ~3,300-token answer goes through a
`GreyCloudAsyncClient` limited to the same ``tpm`` (and to ``--concurrency``
requests at once; requests per minute far out of the way). Two runs, same
emulator, same workload:

* ``input`` (the rule now): the limiter settles each call with its input tokens;
* ``total`` (the old rule, the baseline): it settles with ``totalTokenCount``.

Reports, per run, the input tokens the server received over ``--windows``
windows from the first arrival divided by what the quota allows in them
(target >= 0.95 for ``input``), and the server's 429s (target 0).
Run: ``python benchmarks/bench_tpm.py [--quick]`` (writes
benchmarks/results/bench_tpm.json).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import tempfile

from bench_async import LOCATION, PROJECT, EmulatorProcess
from bench_results import save_results

from greycloud import GreyCloudAsyncClient, GreyCloudConfig, VertexRateLimiter

PROMPT = "Describe picturesque mountainside landscapes [[words=3000]]"
PROMPT_TOKENS = 11  # under the emulator's tokenizer; its estimate (15) is not lower


async def _backlog(config: GreyCloudConfig, args: argparse.Namespace, counts: str) -> None:
    """Keep a backlog queued for ``windows`` windows, then cancel what is left."""
    limiter = VertexRateLimiter(
        rpm=10**6,
        tpm=args.tpm,
        max_concurrency=args.concurrency,
        period=args.window,
        tpm_counts=counts,
    )
    async with GreyCloudAsyncClient(config, rate_limiter=limiter) as client:
        await client.count_tokens("warm up")  # a token and connections before the clock starts
        backlog = 2 * args.windows * args.tpm // PROMPT_TOKENS
        tasks = [asyncio.create_task(client.generate_content(PROMPT)) for _ in range(backlog)]
        await asyncio.sleep(args.windows * args.window + 0.5)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task


def measure(key_path: str, args: argparse.Namespace, counts: str) -> dict[str, float]:
    """One run against a fresh emulator enforcing ``tpm`` input tokens per window."""
    emulator = EmulatorProcess(args.latency, key_path)
    try:
        emulator.admin("quota", {"tpm": args.tpm, "window_seconds": args.window})
        config = GreyCloudConfig(project_id=PROJECT, location=LOCATION, endpoint=emulator.url)
        asyncio.run(_backlog(config, args, counts))
        log = [
            entry
            for entry in emulator.admin("requests")["requests"]  # type: ignore[index]
            if entry["action"] == "generateContent"
        ]
    finally:
        emulator.stop()
    accepted = sorted(entry["time"] for entry in log if entry["status"] == 200)
    throttled = sum(1 for entry in log if entry["status"] == 429)
    span_end = accepted[0] + args.windows * args.window if accepted else 0.0
    within = sum(1 for t in accepted if t < span_end)
    used = within * PROMPT_TOKENS / (args.windows * args.tpm)
    return {"requests_accepted": within, "server_429s": throttled, "input_tokens_over_tpm": used}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tpm", type=int, default=440, help="input tokens per window")
    parser.add_argument("--window", type=float, default=3.0, help="seconds")
    parser.add_argument("--windows", type=int, default=5, help="windows measured")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--quick", action="store_true", help="3 windows of 2 s")
    args = parser.parse_args()
    if args.quick:
        args.window, args.windows = 2.0, 3

    os.environ["NO_GCE_CHECK"] = "true"
    with tempfile.TemporaryDirectory() as directory:
        key_path = os.path.join(directory, "key.json")
        runs = {counts: measure(key_path, args, counts) for counts in ("input", "total")}
    results = {"runs": runs, "args": vars(args)}
    save_results("bench_tpm", results)
    print(f"{'tpm_counts':<22}{'accepted':>10}{'429s':>7}{'input tokens / tpm':>20}  target")
    for counts, run in runs.items():
        target = ">= 0.95, 0 429s" if counts == "input" else "(old rule: baseline)"
        print(
            f"{counts:<22}{run['requests_accepted']:>10}{run['server_429s']:>7}"
            f"{run['input_tokens_over_tpm']:>20.3f}  {target}"
        )
    ratio = runs["input"]["input_tokens_over_tpm"] / max(
        runs["total"]["input_tokens_over_tpm"], 1e-9
    )
    print(f"input / total (same run): {ratio:.2f}x")
    ok = runs["input"]["input_tokens_over_tpm"] >= 0.95 and runs["input"]["server_429s"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
