"""A real ``redis-server`` for tests, on 127.0.0.1 and a free port.

A pytest plugin (loaded from conftest's ``pytest_plugins``). Fixtures:

* ``redis_server``: session-wide server (no persistence), stopped by PID at the end;
  ``flush()`` empties it, ``stop()``/``start()`` take it away and bring it back
  on the same port (a restart loses everything, like a real one without disk).
* ``redis_url``: its URL with a fresh key ``prefix`` for one test.

``redis-server`` comes from Debian's package; ``bash .ci/services.sh`` installs
it (the README's test command runs that first). Without it these tests fail
and say so, rather than skip.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import free_port

START_TIMEOUT = 10.0
MISSING = (
    "redis-server is not installed: run `bash .ci/services.sh` (installs Debian's "
    "redis-server; the README's test command does it) and run the tests again."
)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One ``redis-server`` process; restartable on the same port."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail(MISSING, pytrace=False)
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it (again) and wait until it answers PING."""
        log = (self.directory / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not start; see {self.directory}/redis.log")
            time.sleep(0.02)

    def stop(self) -> None:
        """Kill it by PID (it keeps nothing: no disk persistence)."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=5)

    def flush(self) -> None:
        """Drop every key."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            sock.sendall(b"FLUSHALL\r\n")
            assert sock.recv(16).startswith(b"+OK")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A ``redis-server`` on 127.0.0.1 for the whole session."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The server's URL (started if a test stopped it) with a prefix of its own."""
    if redis_server.process is None:
        redis_server.start()
    return f"{redis_server.url}?prefix=test-{uuid.uuid4().hex[:8]}:"
