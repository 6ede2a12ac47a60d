"""Running the emulator: in a background thread (tests) or in the foreground (CLI)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
from pathlib import Path
from types import TracebackType

from aiohttp import web

from greycloud.emulator.app import create_app
from greycloud.emulator.keys import (
    DEFAULT_CLIENT_EMAIL,
    DEFAULT_PROJECT_ID,
    public_key_pem,
    write_service_account_key,
)
from greycloud.emulator.state import EmulatorState

DEFAULT_LOCATION = "us-central1"
SHUTDOWN_TIMEOUT = 2.0
START_TIMEOUT = 10.0


async def start_site(state: EmulatorState, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Start serving ``state`` on ``host:port``; return the runner and bound port."""
    runner = web.AppRunner(create_app(state), access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner, int(runner.addresses[0][1])


class EmulatorServer:
    """The emulator on a daemon thread with its own event loop."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, state: EmulatorState | None = None
    ) -> None:
        self.host = host
        self.port = port
        self.state = state if state is not None else EmulatorState()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        """Base URL with a trailing slash, e.g. ``http://127.0.0.1:54321/``."""
        return f"http://{self.host}:{self.port}/"

    def start(self) -> EmulatorServer:
        """Start serving; returns once the socket is listening."""
        if self._thread is not None:
            return self
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._serve, args=(ready,), name="greycloud-emulator", daemon=True
        )
        self._thread.start()
        if not ready.wait(START_TIMEOUT):
            raise RuntimeError("emulator did not start in time")
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise RuntimeError(f"emulator failed to start: {self._error}") from self._error
        return self

    def _serve(self, ready: threading.Event) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            self._runner, self.port = loop.run_until_complete(
                start_site(self.state, self.host, self.port)
            )
        except BaseException as exc:
            self._error = exc
            ready.set()
            loop.close()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

    def stop(self) -> None:
        """Shut down cleanly and join the thread."""
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._thread = None
        self._loop = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start_default_credentials(
        self, directory: str | os.PathLike[str], *, register_key: bool = True
    ) -> dict[str, str]:
        """Write an ADC key file pointing at this server; return the env vars to set.

        With ``register_key`` the key's public half is registered so the token
        endpoint verifies its JWT signatures.
        """
        path = Path(directory) / "emulator-service-account.json"
        info = write_service_account_key(path, token_uri=self.url + "token")
        if register_key:
            self.state.register_service_account(DEFAULT_CLIENT_EMAIL, public_key_pem(info))
        return {
            "GOOGLE_APPLICATION_CREDENTIALS": str(path),
            "PROJECT_ID": DEFAULT_PROJECT_ID,
            "LOCATION": DEFAULT_LOCATION,
            "GREYCLOUD_ENDPOINT": self.url,
            "GREYCLOUD_IAM_ENDPOINT": self.url,
        }


async def serve(
    host: str = "127.0.0.1",
    port: int = 8085,
    *,
    latency: float = 0.0,
    state: EmulatorState | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until ``stop`` is set (or SIGINT/SIGTERM when ``stop`` is None)."""
    state = state if state is not None else EmulatorState()
    state.configure(latency=latency)
    runner, bound = await start_site(state, host, port)
    print(f"GreyCloud Vertex AI emulator listening on http://{host}:{bound}/", flush=True)
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def run_forever(host: str = "127.0.0.1", port: int = 8085, *, latency: float = 0.0) -> None:
    """Blocking entry point for ``greycloud emulator --port N``."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(host, port, latency=latency))
