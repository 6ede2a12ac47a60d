"""The daemon's cache registry on disk, where the next daemon finds it.

``<kind>.caches.json`` in the daemon's private runtime directory (0600):
``{"format": 1, "daemonPid": ..., "caches": [record, ...]}`` with the records
of ``SharedCaches.records`` (resource name, project, location, model, folder,
file digests and mtimes, expiry, ``deleteOnExit``, the windows holding it).
Every change is written atomically (temporary file, fsync, rename) in a
worker thread, newest state last; `CacheFile.flush` waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from greycloud_lsp.wire.socket_paths import open_private

log = logging.getLogger(__name__)

FORMAT = 1


class CacheFile:
    """Load once at start; `save` on every change (coalesced, never blocking the loop)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._pending: bytes | None = None
        self._running = False
        self._done: asyncio.Event | None = None

    def load(self) -> list[dict[str, Any]]:
        """The records a previous daemon left ([] if none, or unreadable: logged).

        Also removes a temporary file a killed daemon left mid-write (the
        caller holds the daemon lock: no other daemon is writing).
        """
        for leftover in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            with contextlib.suppress(OSError):
                leftover.unlink()
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return []
        except OSError as exc:
            log.warning("cannot read %s: %s; starting without its caches", self.path, exc)
            return []
        try:
            if os.fstat(fd).st_uid != os.getuid():
                log.warning("%s is not yours; ignoring it", self.path)
                return []
            with os.fdopen(fd, "rb", closefd=False) as handle:
                data = json.loads(handle.read() or b"{}")
        except (OSError, ValueError) as exc:
            log.warning("%s is not a cache registry (%s); ignoring it", self.path, exc)
            return []
        finally:
            os.close(fd)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            log.warning("%s has an unknown format; ignoring it", self.path)
            return []
        caches = data.get("caches")
        return [c for c in caches if isinstance(c, dict)] if isinstance(caches, list) else []

    def save(self, records: list[dict[str, Any]]) -> None:
        """Write ``records`` soon (the latest of several quick saves wins)."""
        data = json.dumps(
            {"format": FORMAT, "daemonPid": os.getpid(), "caches": records}, indent=1
        ).encode()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (tests, teardown): write now
            self.write(data)
            return
        with self._lock:
            self._pending = data
            start = not self._running
            self._running = True
        if start:
            self._done = asyncio.Event()
            done = self._done
            future = loop.run_in_executor(None, self._drain)
            future.add_done_callback(lambda _f: done.set())

    async def flush(self) -> None:
        """Wait until the last saved state is on disk."""
        while True:
            with self._lock:
                running, done = self._running, self._done
            if not running or done is None:
                return
            await done.wait()

    def _drain(self) -> None:
        while True:
            with self._lock:
                data, self._pending = self._pending, None
                if data is None:
                    self._running = False
                    return
            try:
                self.write(data)
            except OSError as exc:
                log.warning("cannot save the cache registry %s: %s", self.path, exc)

    def write(self, data: bytes) -> None:
        """Replace the file atomically with ``data`` (0600)."""
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = open_private(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, self.path)
        directory = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
