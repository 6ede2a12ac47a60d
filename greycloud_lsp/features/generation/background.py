"""Long commands that answer at once and finish in the background.

eglot gives up on a request after 10 s and Helix after 20 s, but a generation that
edits the document can take longer on a real model: the editor showed "Timed out"
and then got the edit anyway. So ``greycloud.generate`` with an ``insert`` mode and
``greycloud.runCodeAction`` answer ``{started: true, workDoneToken, command}`` at once
when the client did not choose a progress token (a client that chose one follows the
progress and the chunks, and waits for the result: the VS Code and Neovim clients).
The argument ``wait`` overrides this either way. The work then goes on as before:
progress on ``workDoneToken`` (cancel it with ``window/workDoneProgress/cancel``),
``greycloud/generationChunk``, the edit as ``workspace/applyEdit``, a prose answer as
``window/showMessage``; a failure as one ``window/showMessage`` (Error).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Coroutine
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException

from greycloud_lsp.language_server import WORK_DONE_TOKEN, GreyCloudLanguageServer

log = logging.getLogger(__name__)


def client_token(argument_token: Any = None) -> str | int | None:
    """The progress token the client chose: ``workDoneToken`` of the request (or argument)."""
    token = WORK_DONE_TOKEN.get()
    return argument_token if token is None else token


def answers_at_once(wait: bool | None, argument_token: Any = None) -> bool:
    """True when a long command should answer now and finish in the background."""
    if wait is not None:
        return not wait
    return client_token(argument_token) is None


def new_token() -> str:
    """A progress token the server chooses (created with ``window/workDoneProgress/create``)."""
    return f"greycloud-{uuid.uuid4().hex[:12]}"


def start(
    ls: GreyCloudLanguageServer,
    command: str,
    work: Coroutine[Any, Any, Any],
    token: str | int,
    **extra: Any,
) -> dict[str, Any]:
    """Run ``work`` in the background (ended with the session); the immediate answer."""
    ls.spawn(_finish(ls, command, work), name=f"{command} {token}")
    return {"started": True, "workDoneToken": token, "command": command, **extra}


async def _finish(
    ls: GreyCloudLanguageServer, command: str, work: Coroutine[Any, Any, Any]
) -> None:
    try:
        await work
    except asyncio.CancelledError:
        raise
    except JsonRpcException as exc:  # expected (a refused request): one clear line
        log.warning("%s failed: %s", command, exc)
        show(ls, types.MessageType.Error, f"GreyCloud: {exc}")
    except Exception as exc:  # a bug: the traceback helps
        log.error("%s failed: %s", command, exc, exc_info=exc)
        show(ls, types.MessageType.Error, f"GreyCloud: {command} failed: {exc}")


def show(ls: GreyCloudLanguageServer, kind: types.MessageType, message: str) -> None:
    """``window/showMessage`` (nothing when no client is connected)."""
    try:
        ls.window_show_message(types.ShowMessageParams(type=kind, message=message))
    except Exception:
        log.debug("could not show message: %s", message)


def edit_not_applied(ls: GreyCloudLanguageServer, label: str) -> None:
    """Nobody waits for the result: say that the edit did not land."""
    show(
        ls,
        types.MessageType.Warning,
        f"GreyCloud: {label}: the editor did not apply the edit (see the log)",
    )
