"""A held cache's files are watched without blocking the event loop.

The poll (stat of every cached file) and the re-read of a file the editor says
changed run in a thread: a workspace of thousands of cached files must not
stall every window of the daemon. The changes are still found.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.uris import from_fs_path

from greycloud_lsp.common.text_metrics import digest
from greycloud_lsp.features.workspace_cache.owned_cache import OwnedCache
from greycloud_lsp.features.workspace_cache.registry import CacheRegistry, on_watched_files
from greycloud_lsp.server import create_server
from greycloud_lsp.shared_state import SharedState


def held_cache(name: str, files: dict[Path, str]) -> OwnedCache:
    return OwnedCache(
        name=name,
        display_name="ws",
        model="gemini-3-flash-preview",
        ttl_seconds=3600,
        expire_time=dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1),
        files={str(path.resolve()): digest(text) for path, text in files.items()},
        mtimes={str(path.resolve()): path.stat().st_mtime for path in files},
        folder=str(next(iter(files)).parent),
    )


@pytest.fixture
def loop_file_access(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the file calls made on the event loop's thread."""
    on_loop: list[str] = []
    loop_thread = threading.get_ident()
    real_stat, real_read = Path.stat, Path.read_text

    def stat(self: Path, *args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() == loop_thread:
            on_loop.append(f"stat {self.name}")
        return real_stat(self, *args, **kwargs)

    def read_text(self: Path, *args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() == loop_thread:
            on_loop.append(f"read {self.name}")
        return real_read(self, *args, **kwargs)

    monkeypatch.setattr(Path, "stat", stat)
    monkeypatch.setattr(Path, "read_text", read_text)
    return on_loop


async def test_polling_and_watched_changes_touch_files_off_the_loop(
    tmp_path: Path, loop_file_access: list[str]
) -> None:
    a, b, c = tmp_path / "a.py", tmp_path / "b.py", tmp_path / "c.py"
    for path in (a, b, c):
        path.write_text(f"# {path.name}\n")
    shared = SharedState()
    server = create_server(shared)
    caches = server.get_feature(CacheRegistry)
    announced: list[str] = []
    caches.announce = lambda cache, deleted=False: announced.append(cache.stale_reason)  # type: ignore[method-assign]
    texts = {path: path.read_text() for path in (a, b, c)}
    shared.caches.add("c1", held_cache("c1", {a: texts[a]}), server, None)
    shared.caches.add("c2", held_cache("c2", {b: texts[b]}), server, None)
    shared.caches.add("c3", held_cache("c3", {c: texts[c]}), server, None)

    a.write_text("# a changed\n")
    os.utime(a, (1, 1))
    b.unlink()
    loop_file_access.clear()  # the test's own stats above
    await caches._poll_files()
    assert shared.caches.get("c1").stale and shared.caches.get("c2").stale
    assert not shared.caches.get("c3").stale
    assert sorted(announced) == ["changed on disk: a.py", "deleted: b.py"]

    c.write_text("# c changed\n")
    assert loop_file_access == []
    params = types.DidChangeWatchedFilesParams(
        changes=[types.FileEvent(uri=from_fs_path(str(c)), type=types.FileChangeType.Changed)]
    )
    await on_watched_files(server, params)
    assert shared.caches.get("c3").stale
    assert loop_file_access == []
    await shared.aclose()


async def test_a_cache_deleted_while_the_times_are_read_is_not_announced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from greycloud_lsp.features.workspace_cache import registry

    a = tmp_path / "a.py"
    a.write_text("# a\n")
    shared = SharedState()
    server = create_server(shared)
    caches = server.get_feature(CacheRegistry)
    announced: list[str] = []
    caches.announce = lambda cache, deleted=False: announced.append(cache.name)  # type: ignore[method-assign]
    shared.caches.add("c1", held_cache("c1", {a: "# a\n"}), server, None)
    a.unlink()
    real = registry.mtimes_of

    def deleted_meanwhile(paths: Any) -> dict[str, float]:
        shared.caches.forget("c1")  # e.g. greycloud.deleteCache ran during the poll
        return real(paths)

    monkeypatch.setattr(registry, "mtimes_of", deleted_meanwhile)
    await caches._poll_files()
    assert announced == []

    # The same while a changed file is read (a watched-file event).
    a.write_text("# a changed\n")
    shared.caches.add("c1", held_cache("c1", {a: "# a\n"}), server, None)
    read = registry._read_text

    def read_deleted_meanwhile(path: str) -> str | None:
        shared.caches.forget("c1")
        return read(path)

    monkeypatch.setattr(registry, "_read_text", read_deleted_meanwhile)
    changed = types.FileEvent(uri=from_fs_path(str(a)), type=types.FileChangeType.Changed)
    await on_watched_files(server, types.DidChangeWatchedFilesParams(changes=[changed]))
    assert announced == []
    await shared.aclose()
