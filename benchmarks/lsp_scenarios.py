"""The measures of ``bench_lsp.py``: one coroutine per scenario, each returning its figures.

Token-count latency and a burst of edits, generation through the server vs
``GreyCloudAsyncClient`` alone, cancel latency, a slow ``gcloud``, startup vs a
minimal pygls server, and resident memory with many open documents.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import psutil
from lsp_bench_client import SERVER, Bench, document, ms, plain
from lsprotocol import types
from pygls.lsp.client import LanguageClient

from greycloud import GreyCloudAsyncClient
from greycloud.emulator import DEFAULT_PROJECT_ID, EmulatorServer

DEBOUNCE_MS = 100
MINIMAL_SERVER = textwrap.dedent(
    """
    from pygls.lsp.server import LanguageServer
    LanguageServer("minimal", "0").start_io()
    """
)
GCLOUD_DELAY = 1.5
SLOW_GCLOUD = textwrap.dedent(
    """\
    #!{python}
    import sys, time
    if sys.argv[1:4] == ["config", "get-value", "project"]:
        time.sleep({delay})
        print({project!r})
        sys.exit(0)
    sys.exit(1)
    """
)


async def token_latency(
    emulator: EmulatorServer, env: dict[str, str], root: Path, sizes: dict[str, int], repeats: int
) -> dict[str, Any]:
    bench = Bench()
    await bench.start(env, {"rpm": 100000, "tokenCount": {"debounceMs": DEBOUNCE_MS}}, root)
    out: dict[str, Any] = {}
    try:
        for label, size in sizes.items():
            uri = (root / f"doc-{label}.txt").as_uri()
            bench.open(uri, document(size))
            await bench.wait("greycloud/tokenCount", lambda d, u=uri: d["uri"] == u and d["exact"])
            est, exact = [], []
            for i in range(repeats):
                version = i + 2
                sent = time.perf_counter()
                bench.insert(uri, version, "x")
                t_est, _ = await bench.wait(
                    "greycloud/tokenCount",
                    lambda d, u=uri, v=version: (
                        d["uri"] == u and d["version"] == v and not d["exact"]
                    ),
                )
                t_exact, _ = await bench.wait(
                    "greycloud/tokenCount",
                    lambda d, u=uri, v=version: d["uri"] == u and d["version"] == v and d["exact"],
                )
                est.append(t_est - sent)
                exact.append(t_exact - sent)
            out[label] = {
                "estimate_ms": ms(statistics.median(est)),
                "exact_ms": ms(statistics.median(exact)),
                "exact_minus_debounce_ms": ms(statistics.median(exact) - DEBOUNCE_MS / 1000),
            }
        # burst of 200 single-character edits
        uri = (root / "burst.txt").as_uri()
        bench.open(uri, "burst\n")
        await bench.wait("greycloud/tokenCount", lambda d: d["uri"] == uri and d["exact"])
        before = len(emulator.state.requests_for("countTokens"))
        for i in range(200):
            bench.insert(uri, i + 2, "y")
            await asyncio.sleep(0.001)
        await bench.wait(
            "greycloud/tokenCount", lambda d: d["uri"] == uri and d["exact"] and d["version"] == 201
        )
        await asyncio.sleep(DEBOUNCE_MS / 1000 * 3)
        out["burst_200_edits_api_calls"] = len(emulator.state.requests_for("countTokens")) - before
    finally:
        await bench.stop()
    return out


async def generation(
    emulator: EmulatorServer,
    env: dict[str, str],
    root: Path,
    repeats: int,
    *,
    latency: float = 0.0,
    chunk_delay: float = 0.0,
) -> dict[str, Any]:
    """Generate through the server and directly, the emulator paced as given."""
    emulator.state.configure(latency=latency, stream_chunk_delay=chunk_delay)
    prompt = "Write something [[words=400]]"
    bench = Bench()
    await bench.start(env, {"rpm": 100000, "maxConcurrency": 10}, root)
    first_chunk, via_server = [], []
    try:
        await bench.execute("greycloud.generate", {"prompt": "warm up [[words=5]]"})
        for _ in range(repeats):
            bench.events.clear()
            emulator.state.clear_log()
            started = time.perf_counter()
            result = await bench.execute("greycloud.generate", {"prompt": prompt})
            via_server.append(time.perf_counter() - started)
            assert plain(result)["text"]
            record = emulator.state.requests_for("streamGenerateContent")[-1]
            chunk_at = next(t for t, m, _ in bench.events if m == "greycloud/generationChunk")
            # perf_counter and monotonic share CLOCK_MONOTONIC on Linux.
            first_chunk.append(chunk_at - record.first_chunk_time)
    finally:
        await bench.stop()
    direct = []
    for key, value in env.items():
        os.environ[key] = value
    client = GreyCloudAsyncClient(rpm=100000, max_concurrency=10)
    try:
        async for _ in client.generate_with_retry("warm up [[words=5]]", streaming=True):
            pass
        for _ in range(repeats):
            started = time.perf_counter()
            stream = client.generate_with_retry(prompt, streaming=True)
            text = "".join([t async for t in stream])
            direct.append(time.perf_counter() - started)
            assert text
    finally:
        await client.aclose()
    server_ms, direct_ms = statistics.median(via_server), statistics.median(direct)
    return {
        "first_sse_chunk_to_client_chunk_ms": ms(statistics.median(first_chunk)),
        "generate_via_server_ms": ms(server_ms),
        "generate_direct_ms": ms(direct_ms),
        "server_vs_direct_ratio": round(server_ms / direct_ms, 3),
    }


async def cancel_latency(
    emulator: EmulatorServer, env: dict[str, str], root: Path, repeats: int
) -> dict[str, Any]:
    """Progress cancel / $/cancelRequest -> the emulator sees the stream end."""
    # The emulator notices a closed stream at its next write: keep chunks 10 ms apart.
    emulator.state.configure(latency=0.0, stream_chunk_delay=0.01)
    bench = Bench()
    await bench.start(env, {"rpm": 100000}, root)
    out: dict[str, list[float]] = {"progress_cancel_ms": [], "cancel_request_ms": []}
    try:
        for i in range(repeats * 2):
            by_progress = i % 2 == 0
            bench.events.clear()
            emulator.state.clear_log()
            pending = set(bench.client.protocol._request_futures)
            task = asyncio.ensure_future(
                bench.execute("greycloud.generate", {"prompt": "long [[words=3000]]"})
            )
            _, chunk = await bench.wait("greycloud/generationChunk", lambda d: True)
            sent = time.monotonic()
            if by_progress:
                bench.client.window_work_done_progress_cancel(
                    types.WorkDoneProgressCancelParams(token=chunk["token"])
                )
            else:
                (msg_id,) = set(bench.client.protocol._request_futures) - pending
                bench.client.protocol.notify("$/cancelRequest", types.CancelParams(id=msg_id))
            try:
                await asyncio.wait_for(task, 10)
            except Exception:
                pass
            record = emulator.state.requests_for("streamGenerateContent")[-1]
            for _ in range(200):
                if record.end_time is not None:
                    break
                await asyncio.sleep(0.005)
            key = "progress_cancel_ms" if by_progress else "cancel_request_ms"
            out[key].append(record.end_time - sent)
    finally:
        emulator.state.configure(stream_chunk_delay=0.0)
        await bench.stop()
    return {k: ms(statistics.median(v)) for k, v in out.items()} | {
        k.replace("_ms", "_max_ms"): ms(max(v)) for k, v in out.items()
    }


async def slow_gcloud(
    emulator: EmulatorServer, env: dict[str, str], root: Path, repeats: int
) -> dict[str, Any]:
    """generate + countTokens with the project from a 1.5 s gcloud vs PROJECT_ID set.

    While each pair runs, a cheap request (``greycloud/tokenCount`` of an open
    document) is sent every 50 ms: its worst wait is the longest loop stall.
    """
    emulator.state.configure(latency=0.0, stream_chunk_delay=0.0)
    bin_dir = root / "slow-gcloud"
    bin_dir.mkdir(exist_ok=True)
    gcloud = bin_dir / "gcloud"
    gcloud.write_text(
        SLOW_GCLOUD.format(python=sys.executable, delay=GCLOUD_DELAY, project=DEFAULT_PROJECT_ID)
    )
    gcloud.chmod(0o755)
    with_gcloud = {k: v for k, v in env.items() if k != "PROJECT_ID"}
    with_gcloud["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    out: dict[str, Any] = {}
    for label, case_env in (("project_id", env), ("slow_gcloud", with_gcloud)):
        bench = Bench()
        await bench.start(case_env, {"rpm": 100000}, root)
        uri = (root / f"probe-{label}.txt").as_uri()
        bench.open(uri, "probe")
        generate, count, pair, probe = [], [], [], []

        async def probing(
            stop: asyncio.Event, bench: Bench = bench, uri: str = uri, probe: list[float] = probe
        ) -> None:
            while not stop.is_set():
                sent = time.perf_counter()
                await bench.client.protocol.send_request_async(
                    "greycloud/tokenCount", {"textDocument": {"uri": uri}}
                )
                probe.append(time.perf_counter() - sent)
                await asyncio.sleep(0.05)

        try:
            for i in range(repeats):
                stop = asyncio.Event()
                prober = asyncio.ensure_future(probing(stop))
                started = time.perf_counter()
                await bench.execute("greycloud.generate", {"prompt": f"hello {i} [[words=20]]"})
                middle = time.perf_counter()
                await bench.execute("greycloud.countTokens", {"text": f"count me {i}"})
                ended = time.perf_counter()
                stop.set()
                await prober
                generate.append(middle - started)
                count.append(ended - middle)
                pair.append(ended - started)
        finally:
            await bench.stop()
        out[label] = {
            "generate_ms": ms(statistics.median(generate)),
            "count_tokens_ms": ms(statistics.median(count)),
            "pair_ms": ms(statistics.median(pair)),
            "first_pair_ms": ms(pair[0]),
            "probe_max_ms": ms(max(probe)),
        }
    out["pair_ratio"] = round(out["slow_gcloud"]["pair_ms"] / out["project_id"]["pair_ms"], 2)
    return out


async def startup(env: dict[str, str], root: Path, repeats: int) -> dict[str, Any]:
    minimal = root / "minimal_server.py"
    minimal.write_text(MINIMAL_SERVER)

    async def spawn(command: list[str]) -> float:
        client = LanguageClient("bench", "0")
        started = time.perf_counter()
        await client.start_io(*command, env=env)
        await client.initialize_async(
            types.InitializeParams(capabilities=types.ClientCapabilities(), process_id=None)
        )
        elapsed = time.perf_counter() - started
        await client.shutdown_async(None)
        client.exit(None)
        await client.stop()
        return elapsed

    ours, base = [], []
    for _ in range(repeats):  # interleaved, so machine load hits both alike
        ours.append(await spawn(SERVER))
        base.append(await spawn([sys.executable, str(minimal)]))
    return {
        "greycloud_lsp_ms": ms(statistics.median(ours)),
        "minimal_pygls_ms": ms(statistics.median(base)),
        "ratio": round(statistics.median(ours) / statistics.median(base), 3),
    }


async def memory(env: dict[str, str], root: Path, docs: int) -> dict[str, Any]:
    bench = Bench()
    await bench.start(env, {"rpm": 100000, "tokenCount": {"debounceMs": 50}}, root)
    try:
        await asyncio.sleep(1.5)  # let the post-initialize import warm-up finish
        idle = psutil.Process(bench.pid).memory_info().rss
        for i in range(docs):
            bench.open((root / f"m{i}.txt").as_uri(), f"document {i}\n" + document(10_000))
        last = (root / f"m{docs - 1}.txt").as_uri()
        await bench.wait("greycloud/tokenCount", lambda d: d["uri"] == last and d["exact"])
        await asyncio.sleep(0.5)
        rss = psutil.Process(bench.pid).memory_info().rss
    finally:
        await bench.stop()
    return {"rss_idle_mb": round(idle / 2**20, 1), f"rss_{docs}_docs_mb": round(rss / 2**20, 1)}
