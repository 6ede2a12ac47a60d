"""One editor session: ``GreyCloudLanguageServer`` and the `Feature` base class.

A session owns what belongs to one editor: its documents and workspace folders
(pygls' workspace), its settings and the effective ``GreyCloudConfig`` they
resolve to, its progress tokens and cancel hooks, and one instance of every
feature (looked up by type with `GreyCloudLanguageServer.get_feature`).
Clients, rate limiters, the token-count memo and the cache registry live in a
`SharedState` that several sessions may share.

This module imports no feature module: features import it.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from greycloud.config import DEFAULT_MODEL
from greycloud.quotas import base_model
from greycloud_lsp import __version__
from greycloud_lsp._pygls_compat import WORK_DONE_TOKEN, GreyCloudProtocol
from greycloud_lsp.common.payload_conversion import dump
from greycloud_lsp.settings import (
    Settings,
    SettingsProblem,
    check_with_config,
    problem_fingerprint,
    resolve,
)
from greycloud_lsp.shared_state import EMULATOR_LOCKED, SharedState

if TYPE_CHECKING:
    from greycloud.async_client import GreyCloudAsyncClient
    from greycloud.config import GreyCloudConfig

__all__ = ["CONFIG_SECTION", "WORK_DONE_TOKEN", "Feature", "GreyCloudLanguageServer"]

log = logging.getLogger(__name__)

CONFIG_SECTION = "greycloud"
SETTINGS_WAIT_SECONDS = 5.0

F = TypeVar("F", bound="Feature")


class Feature:
    """Per-session state and behaviour of one feature.

    A feature module defines a subclass and a ``setup(server)`` function that
    calls ``server.add_feature(MyFeature(server))`` and registers its LSP
    handlers; handlers find their state with ``ls.get_feature(MyFeature)``.
    The hooks below are called by the session; override what you need.
    """

    def __init__(self, ls: GreyCloudLanguageServer) -> None:
        self.ls = ls

    def settings_changed(self, old: Settings, new: Settings) -> None:
        """The effective settings changed (called on the event loop)."""

    async def initialized(self) -> None:
        """The client finished ``initialized`` and the settings are in."""

    def document_changed(self, uri: str) -> None:
        """``uri`` was opened or edited (called on the event loop, in arrival order)."""

    def document_closed(self, uri: str) -> None:
        """``uri`` was closed."""

    async def close(self) -> None:
        """The session ends: stop background work, release what it holds."""


@dataclass
class _Resolved:
    """What a worker thread computed from the settings layers."""

    settings: Settings
    problems: list[SettingsProblem]
    config: GreyCloudConfig | None
    error: Exception | None


class GreyCloudLanguageServer(LanguageServer):
    """One editor session.

    Attributes:
        shared: what this session shares with others in the process.
        environ: the session's environment (what ``GreyCloudConfig`` reads).
        settings: the effective, validated settings.
        init_options: raw ``initializationOptions["greycloud"]`` (or the whole object).
        workspace_settings: raw section ``greycloud`` last pulled from the client.
        progress_tokens: progress token -> callable run on ``window/workDoneProgress/cancel``.
        cancel_hooks: request id -> callable run on ``$/cancelRequest``.
    """

    def __init__(
        self, shared: SharedState | None = None, *, environ: Mapping[str, str] | None = None
    ) -> None:
        super().__init__("greycloud-lsp", __version__, protocol_cls=GreyCloudProtocol)
        self.protocol.cancel_listener = self._on_cancel_notification  # type: ignore[attr-defined]
        self.owns_shared = shared is None
        self.shared = shared if shared is not None else SharedState()
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.settings = Settings()
        self.init_options: Any = None
        self.workspace_settings: Any = None
        self.progress_tokens: dict[str, Callable[[], None]] = {}
        self.cancel_hooks: dict[Any, Callable[[], None]] = {}
        self._features: dict[type[Feature], Feature] = {}
        self._reported: set[str] = set()
        self._config: GreyCloudConfig | None = None
        self._config_error: Exception | None = None
        self._connection: tuple[Any, ...] | None = None
        self._clients: dict[str | None, tuple[GreyCloudAsyncClient, GreyCloudConfig]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._cleaned_up = False
        self._pulled: asyncio.Event | None = None
        self._resolved: asyncio.Event | None = None
        self._reload_lock: asyncio.Lock | None = None
        self.window: tuple[str, int | None] | None = None
        """(window id, forwarder pid) when attached to a daemon: who holds caches across daemons."""
        self.exit_hook: Callable[[int], None] | None = None
        """Run instead of ending the process on ``exit`` or when the editor is gone
        (e.g. a daemon ends just this session); gets the exit code."""
        # pygls' own exit handling would end the process after our handler: not with a hook.
        self.protocol.ends_session_only = lambda: self.exit_hook is not None  # type: ignore[attr-defined]

    # -- features -------------------------------------------------------------

    def add_feature(self, feature: Feature) -> None:
        """Register ``feature``'s state with this session (one instance per type)."""
        self._features[type(feature)] = feature

    def get_feature(self, kind: type[F]) -> F:
        """The session's instance of feature ``kind``."""
        feature = self._features.get(kind)
        if feature is None:
            raise LookupError(f"feature {kind.__name__} is not set up in this server")
        return feature  # type: ignore[return-value]

    def features(self) -> list[Feature]:
        return list(self._features.values())

    def document_changed(self, uri: str) -> None:
        """Tell every feature that ``uri`` was opened or edited."""
        for feature in self.features():
            feature.document_changed(uri)

    def document_closed(self, uri: str) -> None:
        """Tell every feature that ``uri`` was closed."""
        for feature in self.features():
            feature.document_closed(uri)

    # -- settings ---------------------------------------------------------------

    def apply_settings(self) -> Settings:
        """Recompute settings from the layers on the loop, without the config (fast).

        Used at ``initialize``, before the library is imported; `reload_settings`
        then checks them against ``GreyCloudConfig`` and resolves the config.
        """
        settings, problems = resolve([self.init_options, self.workspace_settings], self.settings)
        self._adopt(settings, problems)
        return settings

    async def reload_settings(self) -> Settings:
        """Recompute settings and the effective config in a worker thread.

        Requests wait (`settings_ready`) until it is done; the ``gcloud``
        project look-up, if needed, runs there and at most once per process for
        unchanged connection settings.
        """
        async with self._lock():
            resolved_event = self._resolved_event()
            resolved_event.clear()
            try:
                layers = [self.init_options, self.workspace_settings]
                resolved = await asyncio.to_thread(self._resolve, layers, self.settings)
                self._adopt(resolved.settings, resolved.problems)
                self._config, self._config_error = resolved.config, resolved.error
                self._clients = {}
                self.shared.release_limits(self)  # what the old settings asked for
                if resolved.config is not None:
                    self.shared.request_limits(resolved.config, holder=self)
                    log.info(
                        "config: project=%s location=%s model=%s endpoint=%s",
                        resolved.config.project_id,
                        resolved.config.location,
                        resolved.config.model,
                        resolved.config.base_url,
                    )
            finally:
                resolved_event.set()
        return self.settings

    def _resolve(self, layers: list[Any], previous: Settings) -> _Resolved:
        """Worker-thread part of `reload_settings` (may run ``gcloud``)."""
        from greycloud.config import GreyCloudConfig
        from greycloud.gcloud_project import forget_gcloud_project

        environ = self.shared.environ_for(self.environ)
        settings, problems = resolve(layers, previous)
        settings = check_with_config(settings, previous, problems, environ=environ)
        overrides = self.shared.lock_connection(settings.client_config_overrides())
        connection = tuple(overrides.get(key) for key in EMULATOR_LOCKED)
        if self._connection is not None and connection != self._connection:
            forget_gcloud_project(environ)  # settings changed: ask gcloud again
        self._connection = connection
        try:
            config = GreyCloudConfig(**overrides, environ=environ)
        except ValueError as exc:
            return _Resolved(settings, problems, None, exc)
        return _Resolved(settings, problems, config, None)

    def _adopt(self, settings: Settings, problems: list[SettingsProblem]) -> None:
        self._report_problems(problems)
        previous, self.settings = self.settings, settings
        if settings != previous:
            log.info("settings: %s", dump(settings))
            for feature in self.features():
                feature.settings_changed(previous, settings)

    def settings_pulled(self) -> None:
        """The first ``workspace/configuration`` pull is done (or will never happen)."""
        self._pulled_event().set()

    async def settings_ready(self, timeout: float = SETTINGS_WAIT_SECONDS) -> None:
        """Wait until the client's settings are in and resolved, so no request sees defaults.

        The wait for the client is bounded by ``timeout``; the resolution is
        bounded by the ``gcloud`` time-out.
        """
        try:
            await asyncio.wait_for(self._pulled_event().wait(), timeout)
        except asyncio.TimeoutError:
            log.warning("no workspace configuration after %.0fs; using what we have", timeout)
            self.settings_pulled()
            if self._config is None and self._config_error is None:
                await self.reload_settings()
        await self._resolved_event().wait()

    def _pulled_event(self) -> asyncio.Event:
        if self._pulled is None:
            self._pulled = asyncio.Event()
        return self._pulled

    def _resolved_event(self) -> asyncio.Event:
        if self._resolved is None:
            self._resolved = asyncio.Event()
        return self._resolved

    def _lock(self) -> asyncio.Lock:
        if self._reload_lock is None:
            self._reload_lock = asyncio.Lock()
        return self._reload_lock

    def _report_problems(self, problems: list[SettingsProblem]) -> None:
        for problem in problems:
            if problem.key == "environment":
                message = f"GreyCloud: invalid environment: {problem.message}"
            else:
                message = (
                    f"GreyCloud setting greycloud.{problem.message}; keeping the previous value."
                )
            self.warn_once(message, problem_fingerprint(problem))

    def warn_once(self, message: str, fingerprint: str | None = None) -> None:
        """Log and show ``message`` unless this session was already told."""
        fingerprint = fingerprint or message
        if fingerprint in self._reported:
            return
        self._reported.add(fingerprint)
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

    # -- the effective config and clients --------------------------------------------

    @property
    def config(self) -> GreyCloudConfig:
        """The effective config, resolved by `reload_settings`.

        Raises the ``ValueError`` naming a bad field, or ``RuntimeError`` before
        the first resolution (await `settings_ready` first).
        """
        if self._config is not None:
            return self._config
        if self._config_error is not None:
            raise self._config_error
        raise RuntimeError("the settings are not resolved yet: await settings_ready() first")

    @property
    def model(self) -> str:
        """The default model (setting, else environment, else GreyCloud's default)."""
        if self._config is not None and self._config.model:
            return self._config.model
        return self.settings.model or DEFAULT_MODEL

    def get_client(self, model: str | None = None) -> GreyCloudAsyncClient:
        """The shared client for this session's config (and ``model``'s quota)."""
        known = self._clients.get(model)
        if known is None:
            config = self.config
            if model and base_model(model) != base_model(config.model or ""):
                config = config.replace(model=model)
            known = self._clients[model] = (self.shared.client_for(config, holder=self), config)
        client, config = known  # the client may be another session's: same but for limits
        notice = self.shared.quota_notice(config)
        if notice is not None:
            self.warn_once(notice)
        return client

    # -- helpers ---------------------------------------------------------------------

    def on_cancel_request(self, hook: Callable[[], None]) -> Any:
        """Run ``hook`` if the client cancels the request being handled; returns its id."""
        msg_id = self.protocol.msg_id
        if msg_id is not None:
            self.cancel_hooks[msg_id] = hook
        return msg_id

    def _on_cancel_notification(self, msg_id: Any) -> None:
        hook = self.cancel_hooks.pop(msg_id, None)
        if hook is not None:
            hook()

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
        """End the session: stop its work and release what it holds (bounded, best effort).

        Its limits, cache holds and clients are released first, at once
        (`SharedState.release`): the remote deletes that follow are the shared
        state's background work. Shared state is closed too only if this
        session owns it (standalone mode: waiting for those deletes, bounded).
        """
        if self._cleaned_up:
            return
        self._cleaned_up = True
        for hook in list(self.progress_tokens.values()):
            hook()
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:  # the parent watchdog may be the one cleaning up
                task.cancel()
        self._clients = {}
        self.shared.release(self)
        try:
            await asyncio.wait_for(self._close(), timeout)
        except (asyncio.TimeoutError, Exception) as exc:
            log.warning("cleanup incomplete: %s", exc or "timed out")

    async def _close(self) -> None:
        for feature in self.features():
            try:
                await feature.close()
            except Exception as exc:
                log.warning("closing %s: %s", type(feature).__name__, exc)
        if self.owns_shared:
            await self.shared.aclose()
