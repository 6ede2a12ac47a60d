"""Helpers for the daemon tests: status, waiting, and a raw stdio LSP session."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from greycloud_lsp.forwarder.autostart import control
from greycloud_lsp.wire.socket_paths import daemon_paths


def daemon_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``greycloud-lsp daemon ARGS`` (blocking: ``asyncio.to_thread`` it in async tests)."""
    return subprocess.run(
        [sys.executable, "-m", "greycloud_lsp", "daemon", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


async def status(kind: str = "daemon") -> dict[str, Any] | None:
    """The daemon's status (None when none runs), asked in-process like the CLI does."""
    answer = await control(daemon_paths(kind), "status")
    return None if answer is None else answer["status"]


async def wait_until(
    check: Callable[[], Awaitable[Any]], timeout: float = 10.0, interval: float = 0.05
) -> Any:
    """Poll ``check`` until it returns something truthy; returns it (or fails)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {check}")
        await asyncio.sleep(interval)


def frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


async def read_frame(reader: asyncio.StreamReader) -> dict[str, Any]:
    length = 0
    while True:
        line = await reader.readline()
        if not line:
            raise EOFError("stream closed")
        if line == b"\r\n":
            return json.loads(await reader.readexactly(length))
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)


class RawSession:
    """``greycloud-lsp`` spawned with pipes, spoken to frame by frame."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.messages: list[dict[str, Any]] = []
        self._ids = iter(range(1, 1_000_000))

    @classmethod
    async def start(cls, *args: str, env: dict[str, str] | None = None) -> RawSession:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "greycloud_lsp",
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env or dict(os.environ),
        )
        return cls(process)

    def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(frame({"jsonrpc": "2.0", **message}))

    async def request(self, method: str, params: Any, timeout: float = 20.0) -> dict[str, Any]:
        """Send a request; return its response (answering server requests with null)."""
        request_id = next(self._ids)
        self.send({"id": request_id, "method": method, "params": params})
        return await asyncio.wait_for(self._response(request_id), timeout)

    async def _response(self, request_id: int) -> dict[str, Any]:
        assert self.process.stdout is not None
        while True:
            message = await read_frame(self.process.stdout)
            self.messages.append(message)
            if "method" in message and "id" in message:  # server request: accept
                self.send({"id": message["id"], "result": None})
            elif message.get("id") == request_id and "method" not in message:
                return message

    async def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 20.0
    ) -> dict[str, Any]:
        """Read (answering server requests with null) until a message matches ``predicate``."""

        async def read() -> dict[str, Any]:
            for message in self.messages:
                if predicate(message):
                    return message
            assert self.process.stdout is not None
            while True:
                message = await read_frame(self.process.stdout)
                self.messages.append(message)
                if "method" in message and "id" in message:
                    self.send({"id": message["id"], "result": None})
                if predicate(message):
                    return message

        return await asyncio.wait_for(read(), timeout)

    async def initialize(self, root: str | None = None, process_id: int | None = None) -> Any:
        answer = await self.request(
            "initialize", {"processId": process_id, "rootUri": root, "capabilities": {}}
        )
        self.send({"method": "initialized", "params": {}})
        return answer

    async def stderr(self) -> str:
        assert self.process.stderr is not None
        return (await self.process.stderr.read()).decode(errors="replace")

    async def close(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()
