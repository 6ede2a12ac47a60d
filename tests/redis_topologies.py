"""Real Redis Cluster and Sentinel topologies for tests, on 127.0.0.1 (a pytest plugin).

* ``redis_cluster``: session-wide, three masters (``--cluster-enabled yes``, no
  replicas) joined with ``redis-cli --cluster create``; ``url`` is its
  ``redis+cluster://`` URL, ``nodes`` its ``host:port`` list.
* ``redis_sentinel``: per test (a failover changes it), a master, one replica
  and one Sentinel (``redis-server --sentinel``, quorum 1, a master is down
  after 500 ms); ``url`` is ``redis+sentinel://127.0.0.1:PORT/quota-master``,
  ``kill_master()`` kills the current master by PID, ``fail_over()`` asks the
  Sentinel for a failover (the master becomes a replica).

Every process is stopped by PID at the end; nothing is written to disk but the
nodes' and Sentinel's own config files in a temporary directory.
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.redis_server import MISSING, START_TIMEOUT, _answers

SERVICE = "quota-master"


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too."""
    for _ in range(200):
        port = random.randint(20000, 45000)
        if _bindable(port) and _bindable(port + 10000):
            return port
    raise RuntimeError("no free port pair for a cluster node")


def _command(port: int, *args: str) -> str:
    """One redis-cli command against 127.0.0.1:port (its output, stripped)."""
    done = subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-p", str(port), *args],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return done.stdout.strip()


def _wait(check, what: str, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not happen within {timeout} s")
        time.sleep(0.05)


class _Processes:
    """``redis-server`` processes in one directory, each logged to its own file."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None or shutil.which("redis-cli") is None:
            pytest.fail(MISSING, pytrace=False)
        self.binary = binary
        self.directory = directory
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    def start(self, port: int, *args: str) -> None:
        with (self.directory / f"{port}.log").open("ab") as log:
            self.processes[port] = subprocess.Popen(
                [self.binary, *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.directory,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(port):
            if self.processes[port].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on {port} did not start; see {self.directory}")
            time.sleep(0.02)

    def kill(self, port: int) -> None:
        process = self.processes.pop(port, None)
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=5)

    def stop(self) -> None:
        for port in list(self.processes):
            self.kill(port)


def _server_args(port: int, *extra: str) -> list[str]:
    return [
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        *extra,
    ]


class RedisCluster(_Processes):
    """Three cluster masters covering every slot."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.ports = [cluster_port() for _ in range(3)]
        self.nodes = [f"127.0.0.1:{port}" for port in self.ports]
        self.url = "redis+cluster://" + ",".join(self.nodes[:2])  # two seeds are enough

    def create(self) -> None:
        for port in self.ports:
            config = self.directory / f"nodes-{port}.conf"
            self.start(
                port,
                *_server_args(port, "--cluster-enabled", "yes"),
                "--cluster-config-file",
                str(config),
                "--dir",
                str(self.directory),
            )
        subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *self.nodes,
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            capture_output=True,
            timeout=60,
            check=True,
        )
        for port in self.ports:
            _wait(
                lambda p=port: "cluster_state:ok" in _command(p, "CLUSTER", "INFO"),
                f"cluster state ok on {port}",
            )

    def owner(self, key: str) -> int:
        """The port of the master that holds ``key``'s slot."""
        slot = int(_command(self.ports[0], "CLUSTER", "KEYSLOT", key))
        for start, end, master in _slots(self.ports[0]):
            if start <= slot <= end:
                return master
        raise RuntimeError(f"no owner for slot {slot}")


def _slots(port: int) -> list[tuple[int, int, int]]:
    """The masters' slot ranges from ``CLUSTER NODES``: (first, last, master port) rows."""
    rows = []
    for line in _command(port, "CLUSTER", "NODES").splitlines():
        fields = line.split()
        if "master" not in fields[2].split(","):
            continue
        master = int(fields[1].split("@")[0].rpartition(":")[2])
        for span in fields[8:]:
            first, _, last = span.partition("-")
            rows.append((int(first), int(last or first), master))
    return rows


class RedisSentinel(_Processes):
    """A master, a replica and one Sentinel watching them."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        from tests.helpers import free_port

        self.master, self.replica, self.sentinel = free_port(), free_port(), free_port()
        self.url = f"redis+sentinel://127.0.0.1:{self.sentinel}/{SERVICE}"

    def create(self) -> None:
        self.start(self.master, *_server_args(self.master))
        self.start(
            self.replica, *_server_args(self.replica, "--replicaof", "127.0.0.1", str(self.master))
        )
        config = self.directory / "sentinel.conf"
        config.write_text(
            f"port {self.sentinel}\nbind 127.0.0.1\ndir {self.directory}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {self.master} 1\n"
            f"sentinel down-after-milliseconds {SERVICE} 500\n"
            f"sentinel failover-timeout {SERVICE} 3000\n"
        )
        config.chmod(0o600)
        self.start(self.sentinel, str(config), "--sentinel")
        _wait(
            lambda: "master_link_status:up" in _command(self.replica, "INFO", "replication"),
            "the replica's sync",
        )
        _wait(
            lambda: str(self.replica) in _command(self.sentinel, "SENTINEL", "REPLICAS", SERVICE),
            "the Sentinel seeing the replica",
        )

    def current_master(self) -> int:
        answer = _command(self.sentinel, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
        return int(answer.split()[-1])

    def kill_master(self) -> int:
        """Kill the current master by PID (a crash); return its port."""
        port = self.current_master()
        self.kill(port)
        return port

    def fail_over(self) -> None:
        """Ask the Sentinel for a failover (the master is demoted to a replica)."""
        answer = _command(self.sentinel, "SENTINEL", "FAILOVER", SERVICE)
        if answer != "OK":
            raise RuntimeError(f"SENTINEL FAILOVER answered {answer!r}")

    def wait_promoted(self, timeout: float = 20) -> int:
        """Wait until the Sentinel names the replica as master; return its port."""
        _wait(lambda: self.current_master() == self.replica, "the failover", timeout)
        return self.replica


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """A three-master Redis Cluster on 127.0.0.1 for the whole session."""
    cluster = RedisCluster(tmp_path_factory.mktemp("cluster"))
    try:
        cluster.create()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def redis_sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisSentinel]:
    """A master, a replica and a Sentinel, for one test."""
    topology = RedisSentinel(tmp_path_factory.mktemp("sentinel"))
    try:
        topology.create()
        yield topology
    finally:
        topology.stop()
