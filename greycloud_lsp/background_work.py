"""Work that outlives the session that caused it: tracked, bounded, logged, awaited at the end.

A window that closes releases its limits and cache holds at once; what takes
time (deleting its caches upstream through the rate-limited client, closing
a client no window uses any more) runs here, owned by the `SharedState`
rather than by the session, so a busy quota never keeps a closed window's
limits in force. `BackgroundWork.join` waits for it (bounded) when the
shared state closes: at daemon shutdown or when a standalone server exits.

Jobs run in an empty ``contextvars`` context: their log records go to the
process's log, not to the (closed) session that scheduled them.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

MAX_CONCURRENT_JOBS = 4
MAX_PENDING_JOBS = 256
JOB_TIMEOUT_SECONDS = 120.0


class BackgroundWork:
    """Background jobs of one process: at most ``concurrency`` at once, each time-bounded."""

    def __init__(
        self,
        *,
        concurrency: int = MAX_CONCURRENT_JOBS,
        max_pending: int = MAX_PENDING_JOBS,
        job_timeout: float = JOB_TIMEOUT_SECONDS,
    ) -> None:
        self.max_pending = max_pending
        self.job_timeout = job_timeout
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[Any]] = set()
        self.done = 0
        self.failed = 0

    def __len__(self) -> int:
        """Jobs scheduled and not finished."""
        return len(self._tasks)

    def run(self, name: str, job: Callable[[], Awaitable[Any]]) -> bool:
        """Schedule ``job()`` (called when a slot is free); False if it was refused.

        Refused when no event loop runs or `max_pending` jobs wait already
        (logged as a warning naming the job).
        """
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            log.warning("background job %s not run: no event loop", name)
            return False
        if len(self._tasks) >= self.max_pending:
            log.warning("background job %s not run: %d jobs pending", name, len(self._tasks))
            return False
        task = loop.create_task(self._run(name, job), name=name, context=contextvars.Context())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _run(self, name: str, job: Callable[[], Awaitable[Any]]) -> None:
        async with self._slots:
            try:
                await asyncio.wait_for(job(), self.job_timeout)
            except asyncio.CancelledError:
                log.warning("background job %s cancelled", name)
                raise
            except asyncio.TimeoutError:
                self.failed += 1
                log.warning("background job %s timed out after %.0f s", name, self.job_timeout)
            except Exception as exc:
                self.failed += 1
                log.warning("background job %s failed: %s", name, exc)
            else:
                self.done += 1
                log.info("background job %s done", name)

    async def join(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for every job (also those scheduled meanwhile);
        cancel those still running then."""
        if not self._tasks:
            return
        log.info("waiting up to %.1f s for %d background job(s)", timeout, len(self._tasks))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._tasks and (left := deadline - loop.time()) > 0:
            await asyncio.wait(list(self._tasks), timeout=left)
        pending = list(self._tasks)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=0.5)
