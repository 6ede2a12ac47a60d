"""The GreyCloud language server: a thin ``LanguageServer`` holding shared state.

Handlers live in feature modules (``lifecycle``, ``generation``, ``tokens``,
``workspace_cache``) and receive this server as their first argument.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

from greycloud.config import DEFAULT_MODEL

from . import __version__
from .payloads import dump
from .settings import (
    Settings,
    SettingsProblem,
    check_with_config,
    problem_fingerprint,
    resolve,
)

if TYPE_CHECKING:
    from greycloud.async_client import GreyCloudAsyncClient
    from greycloud.config import GreyCloudConfig

    from .generation import GenerationRun
    from .tokens import TokenTracker
    from .workspace_cache import CacheRegistry

log = logging.getLogger(__name__)

CONFIG_SECTION = "greycloud"
WORK_DONE_TOKEN: contextvars.ContextVar[str | int | None] = contextvars.ContextVar(
    "work_done_token", default=None
)
"""The ``workDoneToken`` of the ``workspace/executeCommand`` being handled (client-chosen)."""
EMULATOR_LOCKED = ("project_id", "location", "endpoint", "use_api_key", "api_key_file", "sa_email")


class GreyCloudProtocol(LanguageServerProtocol):
    """pygls' protocol, plus cancel hooks for long-running commands.

    ``workspace/executeCommand`` runs the command handler as a separate task, so
    pygls' own ``$/cancelRequest`` handling cannot stop it; commands register a
    hook under their request id instead.
    """

    def _handle_cancel_notification(self, msg_id: Any) -> None:
        hook = self._server.cancel_hooks.pop(msg_id, None)  # type: ignore[attr-defined]
        if hook is not None:
            hook()
        super()._handle_cancel_notification(msg_id)

    @lsp_method(types.WORKSPACE_EXECUTE_COMMAND)
    def lsp_workspace__execute_command(self, params: types.ExecuteCommandParams) -> Any:
        WORK_DONE_TOKEN.set(params.work_done_token)
        return (yield from super().lsp_workspace__execute_command(params))


class GreyCloudLanguageServer(LanguageServer):
    """State shared by every handler.

    Attributes:
        settings: the effective, validated settings.
        init_options: raw ``initializationOptions["greycloud"]`` (or the whole object).
        workspace_settings: raw section ``greycloud`` last pulled from the client.
        tokens: per-document token-count state (versions, debounce timers, caches).
        caches: the workspace caches this server created, and their staleness.
        generations: running ``greycloud.generate`` calls by progress token.
        cancel_hooks: request id -> callable run on ``$/cancelRequest``.
    """

    def __init__(self) -> None:
        super().__init__("greycloud-lsp", __version__, protocol_cls=GreyCloudProtocol)
        from .tokens import TokenTracker
        from .workspace_cache import CacheRegistry

        self.settings = Settings()
        self.init_options: Any = None
        self.workspace_settings: Any = None
        self._reported: set[str] = set()
        self._client: GreyCloudAsyncClient | None = None
        self._client_key: tuple[tuple[str, Any], ...] | None = None
        self._retired_clients: list[GreyCloudAsyncClient] = []
        self.tokens: TokenTracker = TokenTracker(self)
        self.caches: CacheRegistry = CacheRegistry(self)
        self.generations: dict[str, GenerationRun] = {}
        self.cancel_hooks: dict[Any, Callable[[], None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._cleaned_up = False
        self._settings_ready: asyncio.Event | None = None
        self.emulator_url: str | None = None
        """Set in ``--emulator`` mode: connection settings from the editor are ignored."""

    # -- settings ---------------------------------------------------------

    def update_settings(self, *, check_config: bool = True) -> Settings:
        """Recompute settings from all layers; report new problems once each.

        ``check_config=False`` skips ``GreyCloudConfig``'s checks, which need the
        library imported (slow): ``initialize`` answers first, ``initialized`` checks.
        """
        previous = self.settings
        settings, problems = resolve([self.init_options, self.workspace_settings], previous)
        if check_config:
            settings = check_with_config(settings, previous, problems)
        self._report_problems(problems)
        self.settings = settings
        if settings != previous:
            log.info("settings: %s", dump(settings))
            self.tokens.settings_changed(previous, settings)
        return settings

    def settings_pulled(self) -> None:
        """The first ``workspace/configuration`` pull is done (or will never happen)."""
        self._ready_event().set()

    async def settings_ready(self, timeout: float = 5.0) -> None:
        """Wait (bounded) until the client's settings are in, so no request sees defaults."""
        try:
            await asyncio.wait_for(self._ready_event().wait(), timeout)
        except asyncio.TimeoutError:
            log.warning("no workspace configuration after %.0fs; using what we have", timeout)
            self.settings_pulled()

    def _ready_event(self) -> asyncio.Event:
        if self._settings_ready is None:
            self._settings_ready = asyncio.Event()
        return self._settings_ready

    def _report_problems(self, problems: list[SettingsProblem]) -> None:
        for problem in problems:
            fingerprint = problem_fingerprint(problem)
            if fingerprint in self._reported:
                continue
            self._reported.add(fingerprint)
            if problem.key == "environment":
                message = f"GreyCloud: invalid environment: {problem.message}"
            else:
                message = (
                    f"GreyCloud setting greycloud.{problem.message}; keeping the previous value."
                )
            log.warning(message)
            self.show_warning(message)

    def show_warning(self, message: str) -> None:
        """``window/showMessage`` with type Warning."""
        try:
            self.window_show_message(
                types.ShowMessageParams(type=types.MessageType.Warning, message=message)
            )
        except Exception:  # no client connected (unit tests)
            log.debug("could not show message: %s", message)

    # -- the shared client --------------------------------------------------

    def client_config(self) -> GreyCloudConfig:
        """A ``GreyCloudConfig`` from the environment plus explicit settings.

        A bad environment value or setting raises ``ValueError`` naming the field.
        """
        from greycloud.config import GreyCloudConfig

        return GreyCloudConfig(**self.config_overrides())

    def config_overrides(self) -> dict[str, Any]:
        """Settings passed to ``GreyCloudConfig``; in emulator mode, minus connection keys."""
        overrides = self.settings.client_config_overrides()
        if self.emulator_url is not None:
            for key in EMULATOR_LOCKED:
                overrides.pop(key, None)
        return overrides

    def get_client(self) -> GreyCloudAsyncClient:
        """The ONE shared async client; rebuilt only when connection settings change."""
        key = tuple(sorted(self.config_overrides().items()))
        if self._client is None or key != self._client_key:
            from greycloud.async_client import GreyCloudAsyncClient

            config = self.client_config()
            if self._client is not None:
                self._retired_clients.append(self._client)
            self._client = GreyCloudAsyncClient(config)
            self._client_key = key
            log.info(
                "client ready: project=%s location=%s model=%s endpoint=%s",
                config.project_id,
                config.location,
                config.model,
                config.base_url,
            )
        return self._client

    @property
    def model(self) -> str:
        """The default model (setting, else environment, else GreyCloud's default)."""
        if self.settings.model:
            return self.settings.model
        try:
            return self.client_config().model or DEFAULT_MODEL
        except ValueError:
            return DEFAULT_MODEL

    # -- helpers --------------------------------------------------------------

    def on_cancel_request(self, hook: Callable[[], None]) -> Any:
        """Run ``hook`` if the client cancels the request being handled; returns its id."""
        msg_id = self.protocol.msg_id
        if msg_id is not None:
            self.cancel_hooks[msg_id] = hook
        return msg_id

    def notify(self, method: str, payload: Any) -> None:
        """Send a custom notification with an attrs payload."""
        self.protocol.notify(method, dump(payload))

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str | None = None) -> asyncio.Task[Any]:
        """Run ``coro`` in the background, keeping a reference and logging failures."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("background task %s failed: %s", task.get_name(), exc, exc_info=exc)

    async def cleanup(self, timeout: float = 1.5) -> None:
        """Best-effort teardown: stop generations, delete owned caches, close clients."""
        if self._cleaned_up:
            return
        self._cleaned_up = True
        for run in list(self.generations.values()):
            run.cancel()
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:  # the parent watchdog may be the one cleaning up
                task.cancel()
        self.tokens.close()
        try:
            await asyncio.wait_for(self._cleanup_backend(), timeout)
        except (asyncio.TimeoutError, Exception) as exc:
            log.warning("cleanup incomplete: %s", exc or "timed out")

    async def _cleanup_backend(self) -> None:
        await self.caches.on_exit()
        clients = [*self._retired_clients, *([self._client] if self._client else [])]
        self._client = None
        self._retired_clients = []
        for client in clients:
            try:
                await client.aclose()
            except Exception as exc:
                log.debug("closing client: %s", exc)


def create_server() -> GreyCloudLanguageServer:
    """A server with every feature module registered."""
    from . import code_actions, generation, lifecycle, tokens, workspace_ask, workspace_cache

    server = GreyCloudLanguageServer()
    for module in (lifecycle, tokens, generation, workspace_cache, workspace_ask, code_actions):
        module.register(server)
    return server
