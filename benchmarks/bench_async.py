"""Async client benchmark: limiter overhead and quota fit, against the emulator.

1. Overhead: the same workload through raw ``genai.Client(...).aio`` and through
   `GreyCloudAsyncClient` with limits far out of the way, in two shapes of equal
   work: "plain" (no generation options: raw passes no config), "configured"
   (temperature, max output tokens and a system instruction: raw passes the same
   `GenerateContentConfig`) and "options" (per-request options beyond those: JSON
   output with a schema, stop sequences, top_k, labels; GreyCloud validates and
   builds their config on every call, raw passes one built once). Reports each
   GreyCloud / raw ratio (target <= 1.05),
   median of several rounds in rotating order, and what the config itself costs
   inside google-genai (raw configured / raw plain, no target: not GreyCloud's).
2. Quota fit: the emulator enforces R requests per window, the client is limited
   to R per window, and a backlog of 3R is sent. Reports 429s (target 0) and the
   achieved rate over R (target >= 0.95).

The emulator runs in its own process so it does not share the client's CPU.
Run: ``python benchmarks/bench_async.py`` (prints a table, writes JSON to
benchmarks/results/bench_async.json).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import requests
from bench_results import save_results
from google import genai
from google.genai import types
from google.oauth2 import service_account

from greycloud import GreyCloudAsyncClient, GreyCloudConfig, VertexRateLimiter
from greycloud.config import DEFAULT_MODEL
from greycloud.emulator import write_service_account_key

PROJECT, LOCATION, MODEL = "bench-project", "us-central1", DEFAULT_MODEL
SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmulatorProcess:
    """``greycloud emulator`` in a subprocess, driven through its admin API.

    Writes a service-account key whose token_uri is this emulator to
    ``key_path`` and points ADC at it, so both clients use real google-auth.
    """

    def __init__(self, latency: float, key_path: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "greycloud",
                "emulator",
                "--port",
                str(self.port),
                "--latency",
                str(latency),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "_emulator/health", timeout=1).ok:
                    write_service_account_key(key_path, token_uri=self.url + "token")
                    os.environ["GOOGLE_APPLICATION_CREDENTIALS"] = key_path
                    return
            except requests.ConnectionError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("the emulator did not start within 20 s")

    def admin(self, path: str, body: dict | None = None) -> object:
        url = self.url + "_emulator/" + path
        response = requests.post(url, json=body or {}) if body is not None else requests.get(url)
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


GENERATION_OPTIONS = {
    "temperature": 0.7,
    "max_output_tokens": 256,
    "system_instruction": "Be brief.",
}
REQUEST_OPTIONS = {
    "response_mime_type": "application/json",
    "response_schema": {
        "type": "OBJECT",
        "properties": {"answer": {"type": "STRING"}, "score": {"type": "INTEGER"}},
    },
    "stop_sequences": ["END"],
    "top_k": 20,
    "labels": {"bench": "options"},
}


async def _raw_workload(
    credentials, url: str, calls: int, concurrency: int, config: types.GenerateContentConfig | None
) -> float:
    client = genai.Client(
        vertexai=True,
        project=PROJECT,
        location=LOCATION,
        credentials=credentials,
        http_options=types.HttpOptions(
            base_url=url, retry_options=types.HttpRetryOptions(attempts=1)
        ),
    )
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            await client.aio.models.generate_content(
                model=MODEL, contents=f"request {i}", config=config
            )

    await one(-1)  # warm up: token, connections
    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(calls)))
    elapsed = time.perf_counter() - started
    await client.aio.aclose()
    return elapsed


async def _greycloud_workload(
    config: GreyCloudConfig, calls: int, concurrency: int, options: dict | None = None
) -> float:
    limiter = VertexRateLimiter(rpm=10**7, tpm=10**10, max_concurrency=concurrency)
    options = options or {}
    async with GreyCloudAsyncClient(config, rate_limiter=limiter) as client:
        await client.generate_content("request -1", **options)
        started = time.perf_counter()
        await asyncio.gather(
            *(client.generate_content(f"request {i}", **options) for i in range(calls))
        )
        return time.perf_counter() - started


def measure_overhead(
    key_path: str, calls: int, concurrency: int, latency: float, rounds: int
) -> dict[str, float]:
    emulator = EmulatorProcess(latency, key_path)
    try:
        credentials = service_account.Credentials.from_service_account_file(key_path, scopes=SCOPES)
        plain = GreyCloudConfig(project_id=PROJECT, location=LOCATION, endpoint=emulator.url)
        configured = plain.replace(**GENERATION_OPTIONS)
        raw_config = types.GenerateContentConfig(**GENERATION_OPTIONS)
        raw_options = types.GenerateContentConfig(**REQUEST_OPTIONS)
        workloads = {
            "raw_plain": lambda: _raw_workload(credentials, emulator.url, calls, concurrency, None),
            "greycloud_plain": lambda: _greycloud_workload(plain, calls, concurrency),
            "raw_configured": lambda: _raw_workload(
                credentials, emulator.url, calls, concurrency, raw_config
            ),
            "greycloud_configured": lambda: _greycloud_workload(configured, calls, concurrency),
            "raw_options": lambda: _raw_workload(
                credentials, emulator.url, calls, concurrency, raw_options
            ),
            "greycloud_options": lambda: _greycloud_workload(
                plain, calls, concurrency, REQUEST_OPTIONS
            ),
        }
        times: dict[str, list[float]] = {name: [] for name in workloads}
        names = list(workloads)
        for index in range(rounds):
            shift = index % len(names)
            for name in names[shift:] + names[:shift]:
                times[name].append(asyncio.run(workloads[name]()))
        result = {f"{name}_seconds": statistics.median(t) for name, t in times.items()}
        result["ratio_plain"] = result["greycloud_plain_seconds"] / result["raw_plain_seconds"]
        result["ratio_configured"] = (
            result["greycloud_configured_seconds"] / result["raw_configured_seconds"]
        )
        result["ratio_options"] = (
            result["greycloud_options_seconds"] / result["raw_options_seconds"]
        )
        result["sdk_config_cost"] = result["raw_configured_seconds"] / result["raw_plain_seconds"]
        return result
    finally:
        emulator.stop()


async def _quota_backlog(config: GreyCloudConfig, limit: int, window: float) -> list[int]:
    limiter = VertexRateLimiter(rpm=limit, tpm=10**10, max_concurrency=limit, period=window)
    async with GreyCloudAsyncClient(config, rate_limiter=limiter) as client:
        await client.count_tokens("warm up")  # fetch a token before the clock starts
        await asyncio.sleep(window)  # let the warm-up leave the window

        async def one(i: int) -> int:
            try:
                await client.generate_content(f"backlog {i}")
                return 200
            except Exception as exc:  # counted, not raised: the figure is the point
                return getattr(getattr(exc, "__cause__", None), "code", 0) or 0

        return await asyncio.gather(*(one(i) for i in range(3 * limit)))


def measure_quota_fit(key_path: str, limit: int, window: float, latency: float) -> dict[str, float]:
    emulator = EmulatorProcess(latency, key_path)
    try:
        emulator.admin("quota", {"rpm": limit, "window_seconds": window})
        config = GreyCloudConfig(project_id=PROJECT, location=LOCATION, endpoint=emulator.url)
        outcomes = asyncio.run(_quota_backlog(config, limit, window))
        log = [
            entry
            for entry in emulator.admin("requests")["requests"]  # type: ignore[index]
            if entry["action"] == "generateContent"
        ]
        arrivals = sorted(entry["time"] for entry in log)
        throttled = sum(1 for entry in log if entry["status"] == 429)
        # After the first window's burst, the rest should arrive at `limit` per window.
        span = arrivals[-1] - arrivals[0]
        achieved = (len(arrivals) - limit) / span * window / limit if span > 0 else 0.0
        return {
            "limit_per_window": limit,
            "window_seconds": window,
            "requests": len(log),
            "succeeded": outcomes.count(200),
            "server_429s": throttled,
            "achieved_rate_over_limit": achieved,
        }
    finally:
        emulator.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quota", type=int, default=20)
    parser.add_argument("--window", type=float, default=3.0)
    args = parser.parse_args()

    os.environ["NO_GCE_CHECK"] = "true"
    with tempfile.TemporaryDirectory() as directory:
        key_path = os.path.join(directory, "key.json")
        overhead = measure_overhead(
            key_path, args.calls, args.concurrency, args.latency, args.rounds
        )
        quota = measure_quota_fit(key_path, args.quota, args.window, args.latency)

    results = {"overhead": overhead, "quota_fit": quota, "args": vars(args)}
    save_results("bench_async", results)
    rows = [
        ("plain: raw genai .aio (no config)", f"{overhead['raw_plain_seconds']:.3f} s", ""),
        ("plain: GreyCloudAsyncClient", f"{overhead['greycloud_plain_seconds']:.3f} s", ""),
        ("plain: overhead ratio", f"{overhead['ratio_plain']:.3f}", "<= 1.05"),
        ("configured: raw genai .aio", f"{overhead['raw_configured_seconds']:.3f} s", ""),
        (
            "configured: GreyCloudAsyncClient",
            f"{overhead['greycloud_configured_seconds']:.3f} s",
            "",
        ),
        ("configured: overhead ratio", f"{overhead['ratio_configured']:.3f}", "<= 1.05"),
        ("options: raw genai .aio", f"{overhead['raw_options_seconds']:.3f} s", ""),
        ("options: GreyCloudAsyncClient", f"{overhead['greycloud_options_seconds']:.3f} s", ""),
        ("options: overhead ratio", f"{overhead['ratio_options']:.3f}", "<= 1.05"),
        ("google-genai config cost (raw)", f"{overhead['sdk_config_cost']:.3f}", "(not ours)"),
        ("quota fit: requests sent", str(quota["requests"]), f"{3 * args.quota}"),
        ("quota fit: 429s from the server", str(quota["server_429s"]), "0"),
        ("quota fit: achieved rate / limit", f"{quota['achieved_rate_over_limit']:.3f}", ">= 0.95"),
    ]
    print(f"{'measure':<38}{'value':>12}  target")
    for name, value, target in rows:
        print(f"{name:<38}{value:>12}  {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
