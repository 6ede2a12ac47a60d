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
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import psutil
from lsprotocol import types
from pygls.lsp.client import LanguageClient

from greycloud import GreyCloudAsyncClient
from greycloud.emulator import DEFAULT_PROJECT_ID, EmulatorServer

RESULTS = Path(__file__).resolve().parent / "results"
SERVER = [sys.executable, "-m", "greycloud_lsp", "--standalone", "--log-level", "WARNING"]
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


class Bench:
    """A client connected to one greycloud-lsp subprocess, recording notifications."""

    def __init__(self) -> None:
        self.client = LanguageClient("bench", "0")
        self.events: list[tuple[float, str, Any]] = []
        self.waiters: list[tuple[str, Any, asyncio.Future[Any]]] = []
        for method in ("greycloud/tokenCount", "greycloud/generationChunk"):
            self.client.feature(method)(self._record(method))

        @self.client.feature(types.WINDOW_WORK_DONE_PROGRESS_CREATE)
        def create(ls: Any, params: Any) -> None:
            return None

        @self.client.feature(types.PROGRESS)
        def progress(ls: Any, params: Any) -> None:
            return None

        @self.client.feature(types.WORKSPACE_CONFIGURATION)
        def configuration(ls: Any, params: Any) -> list[Any]:
            return [self.settings for _ in params.items]

        self.settings: dict[str, Any] = {}

    def _record(self, method: str) -> Any:
        def handle(ls: Any, params: Any) -> None:
            now = time.perf_counter()
            data = _plain(params)
            self.events.append((now, method, data))
            for waiter in list(self.waiters):
                m, predicate, fut = waiter
                if m == method and not fut.done() and predicate(data):
                    fut.set_result((now, data))
                    self.waiters.remove(waiter)

        return handle

    async def wait(self, method: str, predicate: Any, timeout: float = 120) -> tuple[float, Any]:
        for at, m, data in self.events:
            if m == method and predicate(data):
                return at, data
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.waiters.append((method, predicate, fut))
        return await asyncio.wait_for(fut, timeout)

    async def start(self, env: dict[str, str], settings: dict[str, Any], root: Path) -> float:
        self.settings = settings
        started = time.perf_counter()
        await self.client.start_io(*SERVER, env=env)
        caps = types.ClientCapabilities(
            window=types.WindowClientCapabilities(work_done_progress=True),
            workspace=types.WorkspaceClientCapabilities(configuration=True),
        )
        await self.client.initialize_async(
            types.InitializeParams(
                capabilities=caps,
                process_id=os.getpid(),
                root_uri=root.as_uri(),
                workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name="ws")],
            )
        )
        elapsed = time.perf_counter() - started
        self.client.initialized(types.InitializedParams())
        await asyncio.sleep(0.2)
        return elapsed

    async def stop(self) -> None:
        try:
            await asyncio.wait_for(self.client.shutdown_async(None), 10)
            self.client.exit(None)
        except Exception:
            pass
        await self.client.stop()

    @property
    def pid(self) -> int:
        return self.client._server.pid  # type: ignore[union-attr]

    def open(self, uri: str, text: str) -> None:
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id="plaintext", version=1, text=text
                )
            )
        )

    def insert(self, uri: str, version: int, text: str) -> None:
        pos = types.Position(line=0, character=0)
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(start=pos, end=pos), text=text
                    )
                ],
            )
        )

    async def execute(self, command: str, argument: Any) -> Any:
        return await self.client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=command, arguments=[argument])
        )


def _plain(value: Any) -> Any:
    if hasattr(value, "_asdict"):
        return {k: _plain(v) for k, v in value._asdict().items()}
    return value


def document(size: int) -> str:
    line = "The quick brown fox jumps over the lazy dog; pack my box with jugs.\n"
    return (line * (size // len(line) + 1))[:size]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


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
            assert _plain(result)["text"]
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
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"bench_lsp-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
