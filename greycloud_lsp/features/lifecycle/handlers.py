"""initialize / initialized / settings / shutdown / exit, and the parent watchdog."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from typing import Any

from lsprotocol import types

from greycloud_lsp._pygls_compat import shutdown_requested
from greycloud_lsp.common import documents
from greycloud_lsp.common.embedded_emulator import remove_credentials
from greycloud_lsp.common.processes import pid_alive
from greycloud_lsp.language_server import CONFIG_SECTION, GreyCloudLanguageServer

log = logging.getLogger(__name__)

PARENT_POLL_SECONDS = 1.0


def setup(server: GreyCloudLanguageServer) -> None:
    """Register the lifecycle handlers (this module keeps no state of its own)."""
    server.feature(types.INITIALIZE)(on_initialize)
    server.feature(types.INITIALIZED)(on_initialized)
    server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)(on_did_change_configuration)
    server.feature(types.SHUTDOWN)(on_shutdown)
    server.feature(types.EXIT)(on_exit)


def _section(raw: Any) -> Any:
    """Accept both ``{"greycloud": {...}}`` and the bare settings object."""
    if isinstance(raw, dict) and isinstance(raw.get(CONFIG_SECTION), dict):
        return raw[CONFIG_SECTION]
    return raw


def on_initialize(ls: GreyCloudLanguageServer, params: types.InitializeParams) -> None:
    documents.install(ls, params)
    ls.init_options = _section(params.initialization_options)
    ls.apply_settings()
    if params.process_id:
        ls.spawn(watch_parent(ls, params.process_id), name="parent-watchdog")


async def on_initialized(ls: GreyCloudLanguageServer, _params: types.InitializedParams) -> None:
    try:
        await asyncio.to_thread(_warm_up)
        await pull_configuration(ls)
        await ls.reload_settings()
    finally:
        ls.settings_pulled()
    for feature in ls.features():
        await feature.initialized()


def _warm_up() -> None:
    """Import the Gemini stack off the event loop so the first request is not slow."""
    import importlib

    for module in ("google.genai", "greycloud.async_client"):
        try:
            importlib.import_module(module)
        except Exception as exc:  # reported properly when a request needs it
            log.debug("warm-up import of %s failed: %s", module, exc)


def _supports_configuration(ls: GreyCloudLanguageServer) -> bool:
    workspace = ls.client_capabilities.workspace
    return bool(workspace and workspace.configuration)


async def pull_configuration(ls: GreyCloudLanguageServer) -> bool:
    """Read section ``greycloud`` with ``workspace/configuration`` if the client can.

    Returns True if ``ls.workspace_settings`` was updated (the caller reloads).
    """
    if not _supports_configuration(ls):
        return False
    try:
        result = await asyncio.wait_for(
            ls.workspace_configuration_async(
                types.ConfigurationParams(items=[types.ConfigurationItem(section=CONFIG_SECTION)])
            ),
            timeout=5.0,
        )
    except Exception as exc:
        log.warning("workspace/configuration failed: %s", exc)
        return False
    ls.workspace_settings = result[0] if result else None
    return True


async def on_did_change_configuration(
    ls: GreyCloudLanguageServer, params: types.DidChangeConfigurationParams
) -> None:
    if _supports_configuration(ls):
        if not await pull_configuration(ls):
            return
    else:
        ls.workspace_settings = _section(params.settings)
    await ls.reload_settings()


async def on_shutdown(ls: GreyCloudLanguageServer, *_args: Any) -> None:
    await ls.cleanup()


def on_exit(ls: GreyCloudLanguageServer, *_args: Any) -> None:
    """Leave at once: pygls' own exit path can wait on a blocked stdin reader."""
    end_session(ls, 0 if shutdown_requested(ls) else 1)


def end_session(ls: GreyCloudLanguageServer, code: int) -> None:
    """The editor is done: run the session's ``exit_hook``, else end the process."""
    if ls.exit_hook is not None:
        ls.exit_hook(code)
    else:
        hard_exit(code)


def hard_exit(code: int) -> None:
    """Flush what we can and end the process without waiting for worker threads."""
    remove_credentials()  # os._exit skips atexit
    logging.shutdown()
    try:
        sys.stdout.flush()
    except Exception:
        pass
    os._exit(code)


async def watch_parent(ls: GreyCloudLanguageServer, pid: int) -> None:
    """Exit (after cleanup) when the editor that started us is gone."""
    if pid == os.getpid():
        return
    while pid_alive(pid):  # noqa: ASYNC110 - polling another process, nothing to wait on
        await asyncio.sleep(PARENT_POLL_SECONDS)
    log.info("parent process %s is gone; exiting", pid)
    try:
        await ls.cleanup()
    finally:
        end_session(ls, 0)
