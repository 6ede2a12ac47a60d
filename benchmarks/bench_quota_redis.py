"""Shared quota benchmark: admission overhead on Redis, and quota fit across processes.

1. Admission overhead: ``acquire()`` latency of `VertexRateLimiter` in-process
   and with the Redis backend (loopback redis-server), limits out of the way;
   p50 and p99 over sequential admissions, measured in the same run.
2. Quota fit: the emulator (its own process) enforces R requests per window;
   C clients share the quota through Redis and send a backlog of at least 3R
   (R x max(3, ceil(C / R))) between them. A client is a `GreyCloudAsyncClient`
   with its own limiter and Redis connection; up to 16 clients each run in a
   process of their own (tests/quota_worker.py, two "machines" = two HOMEs),
   more run as C / 4 clients in each of 4 processes (a 2-core machine cannot run
   64 Python processes on time). Reports 429s from the quota (target 0), the
   achieved rate over R after the first window's burst (target >= 0.95) and the
   Redis round trips per admitted request (the commands clients sent during the
   run, from INFO commandstats: the script calls and connection set-up, not the
   commands a script runs), for C = 4, 16 and 64.

Needs ``redis-server`` on PATH (``bash .ci/services.sh``).
Run: ``python benchmarks/bench_quota_redis.py`` (prints a table, writes JSON to
benchmarks/results/bench_quota_redis.json); ``--quick`` for 4 and 16 clients
and fewer admissions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from bench_async import LOCATION, PROJECT, EmulatorProcess  # noqa: E402
from bench_results import save_results  # noqa: E402

from greycloud.rate_limiter import VertexRateLimiter  # noqa: E402
from greycloud.shared_quota import RedisQuota  # noqa: E402
from tests.redis_server import RedisServer  # noqa: E402

WORKER = ROOT / "tests" / "quota_worker.py"


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def _admissions(limiter: VertexRateLimiter, count: int) -> list[float]:
    latencies = []
    for _ in range(count + 50):
        started = time.perf_counter()
        reservation = await limiter.acquire(10)
        latencies.append(time.perf_counter() - started)
        reservation.settle(12)
        reservation.release()
        await asyncio.sleep(0)  # let the updates go out, as a real call would
    await limiter.aclose()
    return latencies[50:]  # after warm-up


def measure_overhead(redis_url: str, count: int) -> dict[str, float]:
    limits = {"rpm": 10**9, "tpm": 10**12, "max_concurrency": 10**6}
    local = asyncio.run(_admissions(VertexRateLimiter(**limits), count))
    shared = RedisQuota(redis_url + "?prefix=bench-overhead:", ("p", "l", "m"))
    remote = asyncio.run(_admissions(VertexRateLimiter(**limits, shared=shared), count))
    figures = {}
    for name, values in (("local", local), ("redis", remote)):
        figures[f"{name}_p50_ms"] = statistics.median(values) * 1000
        figures[f"{name}_p99_ms"] = _percentile(values, 0.99) * 1000
    return figures


def _worker_envs(directory: Path, emulator: EmulatorProcess, key_path: str) -> list[dict]:
    envs = []
    for machine in ("machine-a", "machine-b"):
        home = directory / machine
        home.mkdir()
        shutil.copy(key_path, home / "key.json")
        env = dict(
            os.environ,
            HOME=str(home),
            PROJECT_ID=PROJECT,
            LOCATION=LOCATION,
            GOOGLE_APPLICATION_CREDENTIALS=str(home / "key.json"),
            GREYCLOUD_ENDPOINT=emulator.url,
        )
        envs.append(env)
    return envs


def _generate_log(emulator: EmulatorProcess) -> list[dict]:
    requests = emulator.admin("requests")["requests"]  # type: ignore[index]
    return [entry for entry in requests if entry["action"] == "generateContent"]


def layout(clients: int) -> tuple[int, int]:
    """(processes, clients per process): a process each up to 16, else 4 processes."""
    processes = clients if clients <= 16 else 4
    return processes, math.ceil(clients / processes)


CLIENT_COMMANDS = ("eval", "script", "client", "hello", "ping", "select", "auth", "cluster")
"""Commands only a client sends (commandstats also counts those a script runs)."""


def round_trips_so_far(server: RedisServer) -> int:
    """Commands clients have sent the server so far (INFO commandstats; INFO left out)."""
    import redis

    with redis.Redis(port=server.port) as client:
        stats = client.info("commandstats")
    return sum(
        v["calls"]
        for k, v in stats.items()
        if k.removeprefix("cmdstat_").startswith(CLIENT_COMMANDS)  # eval, evalsha, ...
    )


def measure_quota_fit(
    server: RedisServer, clients: int, limit: int, window: float, latency: float
) -> dict[str, float]:
    processes, per_process = layout(clients)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        key_path = str(directory / "key.json")
        emulator = EmulatorProcess(latency, key_path)
        workers: list[subprocess.Popen[bytes]] = []
        try:
            envs = _worker_envs(directory, emulator, key_path)
            url = f"{server.url}?prefix=bench-{clients}:"
            backlog = limit * max(3, math.ceil(clients / limit))
            for i in range(processes):
                share = backlog // processes + (1 if i < backlog % processes else 0)
                workers.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            str(WORKER),
                            "run",
                            str(directory),
                            f"w{i}",
                            "--quota-url",
                            url,
                            "--requests",
                            str(share),
                            "--rpm",
                            str(limit),
                            "--window",
                            str(window),
                            "--concurrency",
                            str(limit),
                            "--clients",
                            str(per_process),
                        ],
                        env=envs[i % 2],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
            deadline = time.monotonic() + 180
            while sum((directory / f"w{i}.ready").exists() for i in range(processes)) < processes:
                if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
                    raise RuntimeError("a worker did not start")
                time.sleep(0.05)
            time.sleep(window)  # warm-up calls leave the window
            emulator.admin("quota", {"rpm": limit, "window_seconds": window})
            warm_up = len(_generate_log(emulator))  # each worker's client sent one
            commands_before = round_trips_so_far(server)
            # One start time for all: the fit is the limiter's, not the processes' start-up.
            (directory / "go").write_text(str(time.time() + 0.5))
            started = time.monotonic() + 0.5
            for worker in workers:
                worker.wait(300)
            round_trips = round_trips_so_far(server) - commands_before
            results = [json.loads((directory / f"w{i}.json").read_text()) for i in range(processes)]
            log = _generate_log(emulator)[warm_up:]
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
            emulator.stop()
    arrivals = sorted(entry["time"] for entry in log if entry["status"] == 200)
    span = arrivals[-1] - arrivals[0] if arrivals else 0.0
    # At the quota, the last of n requests goes floor((n - 1) / R) windows after the first.
    achieved = (len(arrivals) - 1) // limit * window / span if span else 0.0
    return {
        "clients": clients,
        "processes": processes,
        "clients_per_process": per_process,
        "redis_round_trips": round_trips,
        "round_trips_per_request": round_trips / len(log) if log else 0.0,
        "limit_per_window": limit,
        "window_seconds": window,
        "requests_sent": len(log),
        "succeeded": sum(r["ok"] for r in results),
        "failed": sum(len(r["failed"]) for r in results),
        "server_429s": sum(1 for entry in log if entry["status"] == 429),
        "achieved_rate_over_limit": achieved,
        "wall_seconds": time.monotonic() - started,
        "arrivals": [round(t - arrivals[0], 3) for t in arrivals],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--admissions", type=int, default=2000)
    parser.add_argument("--quota", type=int, default=20)
    parser.add_argument("--window", type=float, default=3.0)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--clients", type=int, nargs="+", default=[4, 16, 64])
    parser.add_argument("--quick", action="store_true", help="4 and 16 clients, 300 admissions")
    args = parser.parse_args()
    if args.quick:
        args.clients, args.admissions = [4, 16], 300
    os.environ["NO_GCE_CHECK"] = "true"

    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp))
        server.start()
        try:
            overhead = measure_overhead(server.url, args.admissions)
            fits = [
                measure_quota_fit(server, c, args.quota, args.window, args.latency)
                for c in args.clients
            ]
        finally:
            server.stop()

    results = {"overhead": overhead, "quota_fit": fits, "args": vars(args)}
    save_results("bench_quota_redis", results)
    rows = [
        ("admission p50, in-process", f"{overhead['local_p50_ms']:.3f} ms", ""),
        ("admission p99, in-process", f"{overhead['local_p99_ms']:.3f} ms", ""),
        ("admission p50, Redis", f"{overhead['redis_p50_ms']:.3f} ms", ""),
        ("admission p99, Redis", f"{overhead['redis_p99_ms']:.3f} ms", ""),
    ]
    for fit in fits:
        c = f"{fit['clients']} clients ({fit['processes']} proc.)"
        rows += [
            (f"{c}: requests sent", str(fit["requests_sent"]), str(fit["succeeded"])),
            (f"{c}: 429s from the quota", str(fit["server_429s"]), "0"),
            (f"{c}: achieved rate / quota", f"{fit['achieved_rate_over_limit']:.3f}", ">= 0.95"),
            (f"{c}: Redis round trips / request", f"{fit['round_trips_per_request']:.1f}", ""),
        ]
    print(f"{'measure':<50}{'value':>14}  target")
    for name, value, target in rows:
        print(f"{name:<50}{value:>14}  {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
