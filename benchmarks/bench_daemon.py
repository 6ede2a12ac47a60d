"""Daemon mode vs ``--standalone``, against the in-process emulator.

Run: python benchmarks/bench_daemon.py [--quick]

Prints a table and writes JSON to benchmarks/results/. Measures, each against
a baseline taken in the same run:

* per-request overhead of the forwarder hop: a whole ``greycloud.generate``
  through ``greycloud-lsp`` (forwarder -> daemon) vs ``--standalone``, with a
  realistic model latency (emulator latency 300 ms) and with none (raw hop cost);
* time for a second window to get its ``initialize`` answer (daemon already
  running) vs starting a standalone server;
* resident memory (RSS, psutil) of one daemon with N sessions plus its N
  forwarders vs N standalone servers, N = 1, 4, 8 (each session has run one
  generate, so the Gemini stack is loaded);
* document sync: the forwarder's own cost (in this process: parse the frame,
  track it, update its document copy) per one-character edit at the end of a
  1 MB document, and for ONE ``didChange`` with 100 changes spread over it
  (bottom to top, as editors send a multi-cursor edit); and end to end, an
  edit at the end of the 1 MB document until its live token count (the
  estimate, ``greycloud/tokenCount``) reaches the editor, daemon vs standalone.

``--only edits`` runs just the document-sync part; with ``PYTHONPATH`` set to
another checkout (e.g. ``main``) it measures that code, for before/after figures.

The daemons live in a private temporary XDG_RUNTIME_DIR and are stopped by PID.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from bench_results import save_results
from lsp_bench_client import (
    LSP_COMMAND,
    Bench,
    document,
    ms,
)  # sibling module (benchmarks/ on sys.path)

from greycloud.emulator import EmulatorServer

MODES = {"standalone": ["--standalone"], "daemon": []}
SETTINGS = {"rpm": 100_000, "maxConcurrency": 50, "tokenCount": {"mode": "estimate"}}


class Window(Bench):
    """One editor window: a benchmark client on ``greycloud-lsp`` in one of `MODES`."""

    async def open_window(self, mode: str, env: dict[str, str], root: Path) -> float:
        """Spawn and initialize; returns seconds from spawn to the ``initialize`` answer."""
        return await self.start(env, SETTINGS, root, server=[*LSP_COMMAND, *MODES[mode]])

    async def generate(self, prompt: str = "Hello [[words=20]]") -> float:
        started = time.perf_counter()
        await self.execute("greycloud.generate", {"prompt": prompt})
        return time.perf_counter() - started


def daemon_pids(runtime: Path) -> list[int]:
    pids = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "greycloud_lsp" in cmdline and "daemon" in cmdline and "run" in cmdline:
            try:
                if process.environ().get("XDG_RUNTIME_DIR") == str(runtime):
                    pids.append(process.pid)
            except psutil.Error:
                pass
    return pids


def kill_daemons(runtime: Path) -> None:
    for pid in daemon_pids(runtime):
        try:
            psutil.Process(pid).kill()
            psutil.Process(pid).wait(5)
        except psutil.Error:
            pass


def rss_mb(pids: list[int]) -> float:
    return round(sum(psutil.Process(p).memory_info().rss for p in pids) / 2**20, 1)


async def request_overhead(env: dict, root: Path, emulator: Any, n: int) -> dict[str, Any]:
    """Both modes up at once, requests alternated, medians: load drifts hit both alike."""
    windows = {mode: Window() for mode in MODES}
    for mode, window in windows.items():
        await window.open_window(mode, env, root)
    out: dict[str, Any] = {}
    try:
        for latency in (0.3, 0.0):
            emulator.state.configure(latency=latency)
            times: dict[str, list[float]] = {mode: [] for mode in MODES}
            for window in windows.values():
                for _ in range(3):
                    await window.generate()  # warm
            for i in range(n):
                order = list(MODES) if i % 2 else list(reversed(MODES))
                for mode in order:
                    times[mode].append(await windows[mode].generate())
            med = {mode: statistics.median(values) for mode, values in times.items()}
            out[f"latency_{int(latency * 1000)}ms"] = {
                "standalone_ms": ms(med["standalone"]),
                "daemon_ms": ms(med["daemon"]),
                "hop_ms": ms(med["daemon"] - med["standalone"]),
                "ratio": round(med["daemon"] / med["standalone"], 3),
            }
    finally:
        emulator.state.configure(latency=0.0)
        for window in windows.values():
            await window.stop()
    return out


async def second_window(env: dict, root: Path, repeats: int) -> dict[str, Any]:
    first = Window()
    await first.open_window("daemon", env, root)  # the daemon is up
    daemon, standalone = [], []
    for _ in range(repeats):
        for mode, times in (("daemon", daemon), ("standalone", standalone)):
            window = Window()
            times.append(await window.open_window(mode, env, root))
            await window.stop()
    await first.stop()
    return {
        "second_window_ms": round(statistics.median(daemon) * 1000, 1),
        "standalone_start_ms": round(statistics.median(standalone) * 1000, 1),
        "ratio": round(statistics.median(daemon) / statistics.median(standalone), 3),
    }


async def memory(env: dict, root: Path, runtime: Path, counts: list[int]) -> dict[str, Any]:
    out = {}
    for n in counts:
        sizes = {}
        for mode in MODES:
            windows = [Window() for _ in range(n)]
            for window in windows:
                await window.open_window(mode, env, root)
            await asyncio.gather(*(w.generate() for w in windows))
            pids = [w.pid for w in windows]
            if mode == "daemon":
                pids += daemon_pids(runtime)
            sizes[mode] = rss_mb(pids)
            for window in windows:
                await window.stop()
            kill_daemons(runtime)
        out[f"N={n}"] = {
            "standalone_mb": sizes["standalone"],
            "daemon_mb": sizes["daemon"],
            "ratio": round(sizes["daemon"] / sizes["standalone"], 3),
        }
    return out


async def main_async(quick: bool, only: str | None = None) -> dict[str, Any]:
    runtime = Path(tempfile.mkdtemp(prefix="gc-bench-"))
    root = Path(tempfile.mkdtemp(prefix="gc-bench-ws-"))
    credentials = Path(tempfile.mkdtemp(prefix="gc-bench-key-"))
    with EmulatorServer() as emulator:
        env = {
            **os.environ,
            **emulator.start_default_credentials(credentials),
            "XDG_RUNTIME_DIR": str(runtime),
        }
        try:
            results: dict[str, Any] = {"cpu_count": os.cpu_count()}
            if only in (None, "edits"):
                results["forwarder_edits"] = forwarder_edit_cost(quick)
                results["edit_round_trip"] = await edit_round_trip(env, root, 30 if quick else 100)
            if only is None:
                results["request"] = await request_overhead(
                    env, root, emulator, 10 if quick else 40
                )
                results["startup"] = await second_window(env, root, 3 if quick else 7)
                results["memory"] = await memory(env, root, runtime, [1, 4] if quick else [1, 4, 8])
        finally:
            kill_daemons(runtime)
            for path in (runtime, root, credentials):
                shutil.rmtree(path, ignore_errors=True)
    return results


EDIT_SIZE = 1_000_000


def _end_of(text: str) -> tuple[int, int]:
    """The position after the last character of an ASCII ``\\n`` text."""
    lines = text.split("\n")
    return len(lines) - 1, len(lines[-1])


def _change(line: int, character: int, text: str) -> dict[str, Any]:
    position = {"line": line, "character": character}
    return {"range": {"start": position, "end": position}, "text": text}


def _did_change(version: int, changes: list[dict[str, Any]]) -> bytes:
    params = {"textDocument": {"uri": "file:///big.txt", "version": version}}
    message = {"jsonrpc": "2.0", "method": "textDocument/didChange", "params": params}
    return json.dumps({**message, "params": {**params, "contentChanges": changes}}).encode()


def forwarder_edit_cost(quick: bool) -> dict[str, Any]:
    """What the forwarder spends on didChange: parse the frame, track it, mirror the edit."""
    from greycloud_lsp.forwarder.relay import Forwarder, _parse
    from greycloud_lsp.wire.socket_paths import daemon_paths

    text = document(EDIT_SIZE)
    line, character = _end_of(text)
    forwarder = Forwarder(daemon_paths(), [], {})
    opened = {
        "jsonrpc": "2.0",
        "method": "textDocument/didOpen",
        "params": {
            "textDocument": {
                "uri": "file:///big.txt",
                "languageId": "text",
                "version": 1,
                "text": text,
            }
        },
    }
    forwarder._from_editor(opened)
    single = []
    for version in range(2, (50 if quick else 300) + 2):
        body = _did_change(version, [_change(line, character, "x")])
        started = time.perf_counter()
        forwarder._from_editor(_parse(body))
        single.append(time.perf_counter() - started)
        character += 1
    last = len(text.split("\n")) - 1
    spread = [_change(row, 5, "yy") for row in range(last - 1, 0, -max(1, last // 100))][:100]
    batch = []
    for version in range(3 if quick else 7):
        forwarder._from_editor(opened)
        body = _did_change(1000 + version, spread)
        started = time.perf_counter()
        forwarder._from_editor(_parse(body))
        batch.append(time.perf_counter() - started)
    return {
        "edit_at_end_1mb_ms": round(statistics.median(single) * 1000, 3),
        "one_change_with_100_edits_ms": round(statistics.median(batch) * 1000, 2),
    }


class PipeWindow:
    """An editor reduced to its pipes: frames written and read as they are, no client library.

    Used for the document-sync round trip, where a client library's own overhead
    (milliseconds, and noisy) would hide the server's.
    """

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def open(cls, mode: str, env: dict[str, str], root: Path) -> PipeWindow:
        process = await asyncio.create_subprocess_exec(
            *LSP_COMMAND, *MODES[mode], stdin=-1, stdout=-1, env=env, limit=1 << 24
        )
        window = cls(process)
        window.send(
            {
                "id": 1,
                "method": "initialize",
                "params": {
                    "processId": os.getpid(),
                    "rootUri": root.as_uri(),
                    "capabilities": {"workspace": {"configuration": True}},
                },
            }
        )
        await window.until(lambda m: m.get("id") == 1 and "method" not in m)
        window.send({"method": "initialized", "params": {}})
        # Answered once the settings are resolved, i.e. after the start-up imports: they
        # run in a thread and would otherwise be measured too.
        command = {"command": "greycloud.workspaceCacheState", "arguments": [{}]}
        window.send({"id": 2, "method": "workspace/executeCommand", "params": command})
        await window.until(lambda m: m.get("id") == 2 and "method" not in m)
        return window

    def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n%b" % (len(body), body))

    async def until(self, wanted: Any) -> dict[str, Any]:
        """Read (answering the server's requests) until a message ``wanted`` accepts."""
        assert self.process.stdout is not None
        while True:
            length = 0
            while (line := await self.process.stdout.readline()) != b"\r\n":
                if not line:
                    raise EOFError("the server closed its output")
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            message = json.loads(await self.process.stdout.readexactly(length))
            if "method" in message and "id" in message:
                items = (message.get("params") or {}).get("items") or []
                result = [SETTINGS for _ in items] if items else None
                self.send({"id": message["id"], "result": result})
            elif wanted(message):
                return message

    async def close(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()


async def edit_round_trip(env: dict, root: Path, n: int) -> dict[str, Any]:
    """An edit at the end of 1 MB -> its ``greycloud/tokenCount`` estimate, both modes."""
    text = document(EDIT_SIZE)
    uri = (root / "big.txt").as_uri()
    windows = {}
    try:
        for mode in MODES:
            window = windows[mode] = await PipeWindow.open(mode, env, root)
            item = {"uri": uri, "languageId": "plaintext", "version": 1, "text": text}
            window.send({"method": "textDocument/didOpen", "params": {"textDocument": item}})
            await window.until(lambda m: m.get("method") == "greycloud/tokenCount")
        times: dict[str, list[float]] = {mode: [] for mode in MODES}
        line, character = _end_of(text)
        for i in range(n + 5):
            version = i + 2
            order = list(MODES) if i % 2 else list(reversed(MODES))
            for mode in order:
                change = _change(line, character, "x")
                params = {
                    "textDocument": {"uri": uri, "version": version},
                    "contentChanges": [change],
                }
                started = time.perf_counter()
                windows[mode].send({"method": "textDocument/didChange", "params": params})
                await windows[mode].until(
                    lambda m, v=version: (
                        m.get("method") == "greycloud/tokenCount" and m["params"]["version"] == v
                    )
                )
                if i >= 5:  # warm-up first
                    times[mode].append(time.perf_counter() - started)
            character += 1
        # The lower quartile too: on a shared machine, other processes' bursts land on one
        # mode or the other for seconds (the daemon path has one more process to wake).
        med = {mode: statistics.median(values) for mode, values in times.items()}
        low = {mode: statistics.quantiles(values, n=4)[0] for mode, values in times.items()}
        return {
            "standalone_ms": ms(med["standalone"]),
            "daemon_ms": ms(med["daemon"]),
            "hop_ms": ms(med["daemon"] - med["standalone"]),
            "ratio": round(med["daemon"] / med["standalone"], 3),
            "lower_quartile": {
                "standalone_ms": ms(low["standalone"]),
                "daemon_ms": ms(low["daemon"]),
                "ratio": round(low["daemon"] / low["standalone"], 3),
            },
        }
    finally:
        for window in windows.values():
            await window.close()


def print_table(results: dict[str, Any]) -> None:
    print(f"{'measure':58} {'standalone':>12} {'daemon':>12} {'ratio':>7}")
    if "forwarder_edits" in results:
        f = results["forwarder_edits"]
        print(
            f"{'forwarder: one edit at the end of 1 MB (goal <= 1 ms)':58} {'':>12} "
            f"{f['edit_at_end_1mb_ms']:>9} ms"
        )
        print(
            f"{'forwarder: one didChange with 100 changes (goal < 100 ms)':58} {'':>12} "
            f"{f['one_change_with_100_edits_ms']:>9} ms"
        )
        e = results["edit_round_trip"]
        q = e["lower_quartile"]
        print(
            f"{'edit at the end of 1 MB -> its tokenCount (goal ratio <= 1.2)':58} "
            f"{e['standalone_ms']:>10} ms {e['daemon_ms']:>9} ms {e['ratio']:>7}"
        )
        print(
            f"{'  the same, lower quartile':58} "
            f"{q['standalone_ms']:>10} ms {q['daemon_ms']:>9} ms {q['ratio']:>7}"
        )
    if "request" not in results:
        return
    for key, r in results["request"].items():
        print(
            f"{'generate round trip, ' + key:58} {r['standalone_ms']:>10} ms "
            f"{r['daemon_ms']:>9} ms {r['ratio']:>7}"
        )
    s = results["startup"]
    print(
        f"{'spawn -> initialize answer (daemon: second window)':58} "
        f"{s['standalone_start_ms']:>10} ms {s['second_window_ms']:>9} ms {s['ratio']:>7}"
    )
    for key, m in results["memory"].items():
        print(
            f"{'RSS, ' + key + ' sessions (daemon incl. forwarders)':58} "
            f"{m['standalone_mb']:>10} MB {m['daemon_mb']:>9} MB {m['ratio']:>7}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, N = 1 and 4")
    parser.add_argument("--only", choices=["edits"], help="run only the document-sync part")
    args = parser.parse_args()
    results = asyncio.run(main_async(args.quick, args.only))
    print_table(results)
    print(f"\nwrote {save_results('bench_daemon', results, timestamped=True)}")


if __name__ == "__main__":
    main()
