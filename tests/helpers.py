"""Small helpers shared by tests (not fixtures)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from greycloud.retry import RetryPolicy

# Wall-clock bounds. Tests assert behaviour, not speed: a time bound only tells
# "promptly" from "hung" or "waited for the slow thing", so it is generous enough
# for a machine whose cores are all busy, and each test makes the slow
# alternative take clearly longer than the bound. Speed targets are measured in
# benchmarks/ (e.g. cancel -> upstream closed, in bench_lsp.py).
PROMPTLY = 5.0  # seconds: a step that takes milliseconds on an idle machine
NO_HANG = 60.0  # seconds: a hang guard for work that takes seconds under load

# Real backoff shape, test-sized delays.
FAST_RETRY = RetryPolicy(initial_delay=0.01, max_delay=0.05)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (nothing listens on it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cache_creations(emulator: Any) -> list[Any]:
    """The context-cache creations the emulator received (``cachedContents.create``)."""
    return emulator.state.requests_for("cachedContents.create")


def words(count: int) -> str:
    """A text of ``count`` words from a small vocabulary (for token and cache sizes)."""
    return " ".join(f"word{i % 97}" for i in range(count))


DATASTORE = (
    "projects/emulator-project/locations/global/collections/default_collection/dataStores/docs"
)


def body_of(emulator, action: str = "generateContent", index: int = -1) -> dict:
    """The JSON body of a recorded request."""
    return emulator.state.requests_for(action)[index].body


def statuses(emulator, action: str) -> list[int | None]:
    """HTTP statuses the emulator answered for ``action``, in order."""
    return [r.status for r in emulator.state.requests_for(action)]


def thinking_level_of(generation_config: dict) -> str | None:
    """The thinking level sent; google-genai writes this one key in snake_case."""
    thinking = generation_config.get("thinkingConfig") or {}
    return thinking.get("thinkingLevel", thinking.get("thinking_level"))


@contextlib.asynccontextmanager
async def loop_lags(interval: float = 0.01) -> AsyncIterator[list[float]]:
    """Measure the event loop's heartbeat: yields the list of observed tick gaps."""
    lags: list[float] = []

    async def heartbeat() -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(interval)
            lags.append(time.monotonic() - before)

    beat = asyncio.create_task(heartbeat())
    try:
        yield lags
    finally:
        beat.cancel()


async def until_held_back(limiter, caller: asyncio.Future, timeout: float = NO_HANG) -> None:
    """Wait until a 429's slow-down holds back every caller sharing ``limiter``.

    That is: nothing queued or in flight, and still no room (a fixed sleep
    instead was too short on a busy machine), or ``caller`` (the task that got
    the 429) has already finished, slow-down and retry included.
    """
    for _ in range(int(timeout / 0.01)):
        if caller.done() or not (limiter.headroom() or limiter.in_flight or limiter.waiting):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the limiter was not held back within {timeout} s")


def daemon_processes(runtime_dir: Path) -> list[Any]:
    """``psutil`` processes of greycloud-lsp daemons whose XDG_RUNTIME_DIR is ``runtime_dir``."""
    import psutil

    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "greycloud_lsp" not in cmdline or "daemon" not in cmdline or "run" not in cmdline:
            continue
        try:
            if process.environ().get("XDG_RUNTIME_DIR") == str(runtime_dir):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return found


def kill_daemons(runtime_dir: Path) -> list[int]:
    """Stop (by PID) every greycloud-lsp daemon whose XDG_RUNTIME_DIR is ``runtime_dir``:
    SIGTERM first, so a daemon ends as it would for a user (an ``--emulator`` daemon then
    removes its emulator key directory from the temporary directory), SIGKILL after 5 s."""
    import psutil

    if not runtime_dir.exists():
        return []
    processes = daemon_processes(runtime_dir)
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.terminate()
    _, alive = psutil.wait_procs(processes, timeout=5)
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(alive, timeout=5)
    return [process.pid for process in processes]
