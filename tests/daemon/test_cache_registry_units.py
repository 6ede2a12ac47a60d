"""The cache registry across daemons, piece by piece: the file, hand-over, adoption, orphans.

The whole story runs through real processes in ``test_cache_restarts.py``;
these check the rules (and the file's robustness) one at a time. Deleting is
a recorded callable here: the real delete is tested against the emulator there.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
from pathlib import Path
from typing import Any

from greycloud_lsp.daemon.cache_file import CacheFile
from greycloud_lsp.features.workspace_cache.owned_cache import OwnedCache
from greycloud_lsp.features.workspace_cache.persistence import restore, wait_for_windows
from greycloud_lsp.shared_state import SharedState

NAME = "projects/p/locations/l/cachedContents/1"


class Window:
    """A session as `SharedCaches` sees it: hashable, with a window identity."""

    def __init__(self, window_id: str, pid: int | None = None) -> None:
        self.window = (window_id, pid if pid is not None else os.getpid())


def cache(name: str = NAME, *, hours: float = 1.0) -> OwnedCache:
    return OwnedCache(
        name=name,
        display_name="ws",
        model="gemini-3-flash-preview",
        ttl_seconds=3600,
        expire_time=dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=hours),
        files={"/ws/a.py": "d1"},
        mtimes={"/ws/a.py": 1.5},
        folder="/ws",
        tokens=5000,
        project="p",
        location="l",
        connection={"config": {"project_id": "p", "location": "l"}, "environ": {}},
    )


def recorder(deleted: list[str], name: str) -> Any:
    async def delete() -> None:
        deleted.append(name)

    return delete


async def test_the_file_is_private_whole_json_and_read_back(tmp_path: Path):
    store = CacheFile(tmp_path / "daemon.caches.json")
    shared = SharedState()
    shared.caches.store = store
    shared.caches.add(NAME, cache(), Window("w1"), recorder([], NAME))
    await shared.caches.saved()
    info = os.lstat(store.path)
    assert stat.S_IMODE(info.st_mode) == 0o600
    written = json.loads(store.path.read_text())
    assert written["format"] == 1 and written["daemonPid"] == os.getpid()
    (record,) = store.load()
    assert record["windows"] == [{"id": "w1", "forwarderPid": os.getpid()}]
    assert record["deleteOnExit"] is True and record["files"] == {"/ws/a.py": "d1"}
    own = {k: v for k, v in record.items() if k not in ("deleteOnExit", "windows")}
    assert OwnedCache.from_record(record).to_record() == own  # the record is the whole cache
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]  # renamed into place


def test_a_damaged_or_foreign_file_is_ignored(tmp_path: Path):
    path = tmp_path / "daemon.caches.json"
    for content in ("{not json", "[]", json.dumps({"format": 99, "caches": [{}]}), ""):
        path.write_text(content)
        assert CacheFile(path).load() == []
    path.write_text(json.dumps({"format": 1, "caches": [{"name": 1}, "x"]}))
    shared = SharedState()
    assert restore(shared, CacheFile(path).load()) == 0  # a bad record is skipped, not fatal


async def test_a_stopping_daemon_hands_held_caches_over_and_deletes_the_rest(tmp_path: Path):
    deleted: list[str] = []
    shared = SharedState()
    shared.caches.store = CacheFile(tmp_path / "daemon.caches.json")
    window = Window("w1")
    shared.caches.add(NAME, cache(), window, recorder(deleted, NAME))
    unheld = "projects/p/locations/l/cachedContents/2"
    shared.caches.add(unheld, cache(unheld), Window("w2"), recorder(deleted, unheld))
    shared.caches.release_all(shared.caches.holders(unheld)[0])
    await shared.background.join(5)  # deletes are the shared state's background work
    assert deleted == [unheld]  # its last window left before the stop

    shared.caches.hand_over()
    shared.caches.release_all(window)  # the session ends because the daemon stops
    await shared.caches.aclose()
    await shared.background.join(5)
    assert deleted == [unheld]
    (record,) = shared.caches.store.load()
    assert record["name"] == NAME and record["windows"][0]["id"] == "w1"


async def test_the_next_daemon_gives_the_cache_back_and_deletes_it_with_its_last_window(
    tmp_path: Path,
):
    path = tmp_path / "daemon.caches.json"
    old = SharedState()
    old.caches.store = CacheFile(path)
    old.caches.add(NAME, cache(), Window("w1"), recorder([], NAME))
    expired = "projects/p/locations/l/cachedContents/3"
    old.caches.add(expired, cache(expired, hours=-1), Window("w1"), recorder([], expired))
    old.caches.hand_over()
    await old.caches.saved()

    new = SharedState()
    new.caches.store = CacheFile(path)
    assert restore(new, new.caches.store.load()) == 1  # the expired one is dropped
    assert new.caches.waiting_windows() == {"w1": os.getpid()}
    deleted: list[str] = []
    replayed = Window("w1")
    (adopted,) = new.caches.adopt("w1", replayed, lambda name: recorder(deleted, name))
    assert adopted.name == NAME and adopted.files == {"/ws/a.py": "d1"}
    assert new.caches.held_by(replayed) == [adopted] and not new.caches.waiting_windows()
    new.caches.release_all(replayed)
    await new.background.join(5)
    assert deleted == [NAME]
    await new.caches.saved()
    assert new.caches.store.load() == []


async def test_windows_that_do_not_come_back_are_given_up(tmp_path: Path):
    deleted: list[str] = []
    shared = SharedState()
    second = "projects/p/locations/l/cachedContents/4"
    records = []
    for name, pid in ((NAME, 4_000_000), (second, os.getpid())):  # a dead and a live forwarder
        record = cache(name).to_record()
        records.append(
            {**record, "deleteOnExit": True, "windows": [{"id": name, "forwarderPid": pid}]}
        )
    shared.caches.restore(
        [
            (
                r["name"],
                OwnedCache.from_record(r),
                True,
                {r["name"]: r["windows"][0]["forwarderPid"]},
            )
            for r in records
        ],
        lambda value: recorder(deleted, value.name),
    )

    def alive(pid: int) -> bool:
        return pid == os.getpid()

    await shared.caches.give_up_waiting(lambda _w, pid: pid is not None and not alive(pid))
    await shared.background.join(5)
    assert deleted == [NAME]  # the dead forwarder's window is not waited for
    await wait_for_windows(shared, grace=0.0, alive=alive)
    await shared.background.join(5)
    assert deleted == [NAME, second]  # the live one only until the grace period ends


def test_the_recorded_connection_holds_no_secret():
    from types import SimpleNamespace

    from greycloud.config import GreyCloudConfig
    from greycloud_lsp.features.workspace_cache.persistence import connection_of

    environ = {
        "GREYCLOUD_API_KEY": "AIza" + "Sy0123456789abcdefghijklmnopqrstu",
        "GOOGLE_API_KEY": "AIza" + "Sy9999999999abcdefghijklmnopqrstu",
        "GREYCLOUD_QUOTA_URL": "redis://:hunter2@127.0.0.1:6379/0",
        "GOOGLE_APPLICATION_CREDENTIALS": "/home/me/key.json",
        "PROJECT_ID": "p",
        "UNRELATED": "x",
    }
    config = GreyCloudConfig(location="l", resolve_project=False, environ=environ)
    connection = connection_of(SimpleNamespace(config=config, environ=environ))  # type: ignore[arg-type]
    written = json.dumps(connection)
    assert "AIza" not in written and "hunter2" not in written and "UNRELATED" not in written
    assert connection["environ"]["GOOGLE_APPLICATION_CREDENTIALS"] == "/home/me/key.json"
    assert connection["config"]["project_id"] == "p" and connection["config"]["location"] == "l"
