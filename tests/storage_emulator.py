"""Cloud Storage for tests: ``gcp-storage-emulator`` (PyPI) on a free 127.0.0.1 port.

A pytest plugin (load it with ``pytest_plugins``). Fixtures:

* ``storage_emulator``: session-wide server; yields its URL. Started as a child
  process and stopped through its own handle.
* ``gcs_env``: ``adc_env`` plus ``STORAGE_EMULATOR_HOST``; resets the Vertex
  emulator's caches and batch jobs and makes jobs advance on every poll.
* ``gcs``: an anonymous storage client for checking what landed where.
* ``bucket`` / ``other_bucket``: fresh, empty buckets for one test.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from greycloud.emulator.batch_jobs import batch_store
from greycloud.emulator.cache_routes import cache_store
from tests.helpers import free_port

START_TIMEOUT = 20.0


def _wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gcp-storage-emulator exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("gcp-storage-emulator did not start listening in time")


@pytest.fixture(scope="session")
def storage_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of an in-memory Cloud Storage emulator for the whole session."""
    port = free_port()
    script = Path(sys.executable).with_name("gcp-storage-emulator")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "gcp_storage_emulator"]
    log = tmp_path_factory.mktemp("gcs") / "emulator.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*command, "start", "--host", "127.0.0.1", "--port", str(port), "--in-memory", "-q"],
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        _wait_listening(port, process, START_TIMEOUT)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture
def gcs_env(monkeypatch: pytest.MonkeyPatch, storage_emulator: str, adc_env: Any) -> Any:
    """ADC env for the Vertex emulator plus ``STORAGE_EMULATOR_HOST``; returns the emulator."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", storage_emulator)
    monkeypatch.setenv("BATCH_POLL_INTERVAL", "0.01")
    cache_store(adc_env.state).clear()
    batch_store(adc_env.state).reset()
    return adc_env


@pytest.fixture
def gcs(storage_emulator: str) -> Iterator[storage.Client]:
    """An anonymous client of the storage emulator (for setting up and checking)."""
    client = storage.Client(
        project="test",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": storage_emulator},
    )
    yield client
    client.close()


def _new_bucket(client: storage.Client, stem: str) -> str:
    name = f"{stem}-{uuid.uuid4().hex[:10]}"
    client.create_bucket(name)
    return name


@pytest.fixture
def bucket(gcs: storage.Client, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new bucket, also set as ``BATCH_GCS_BUCKET`` and ``GCS_BUCKET``."""
    name = _new_bucket(gcs, "gc-batch")
    monkeypatch.setenv("BATCH_GCS_BUCKET", name)
    monkeypatch.setenv("GCS_BUCKET", name)
    return name


@pytest.fixture
def other_bucket(gcs: storage.Client) -> str:
    """A second new bucket (for output elsewhere)."""
    return _new_bucket(gcs, "gc-other")
