"""Work-done progress that quietly does nothing when the client cannot show it.

Also routes ``window/workDoneProgress/cancel`` to the hook of the progress
token it names (``ls.progress_tokens``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from lsprotocol import types

from greycloud_lsp.language_server import GreyCloudLanguageServer

log = logging.getLogger(__name__)


def client_supports_progress(ls: GreyCloudLanguageServer) -> bool:
    """True if the client declared ``window.workDoneProgress``."""
    try:
        window = ls.client_capabilities.window
    except Exception:  # not initialised yet
        return False
    return bool(window and window.work_done_progress)


class ProgressReporter:
    """One server-initiated progress bar: ``begin``, any ``report``, one ``end``.

    Every method is a no-op when the client lacks ``window.workDoneProgress`` or
    refused to create the token, so callers never have to check.
    """

    def __init__(
        self,
        ls: GreyCloudLanguageServer,
        title: str,
        *,
        on_cancel: Callable[[], None] | None = None,
        token: str | int | None = None,
        chosen_by_client: bool | None = None,
    ):
        """``on_cancel``: run on ``window/workDoneProgress/cancel`` (makes it cancellable).

        ``token``: a ``workDoneToken`` the client chose (no ``create`` request is sent),
        or, with ``chosen_by_client=False``, one the server chose and still creates.
        """
        self.ls = ls
        self.title = title
        self.cancellable = on_cancel is not None
        self.client_token = token is not None if chosen_by_client is None else chosen_by_client
        self.token: str | int = token if token is not None else f"greycloud-{uuid.uuid4().hex[:12]}"
        self.active = False
        self._ended = False
        if on_cancel is not None:
            ls.progress_tokens[str(self.token)] = on_cancel

    async def begin(self, message: str | None = None, percentage: int | None = None) -> None:
        if not self.client_token:
            if not client_supports_progress(self.ls):
                return
            try:
                await self.ls.work_done_progress.create_async(self.token)
            except Exception as exc:
                log.debug("client refused progress token %s: %s", self.token, exc)
                return
        self.active = True
        self.ls.work_done_progress.begin(
            self.token,
            types.WorkDoneProgressBegin(
                title=self.title,
                message=message,
                cancellable=self.cancellable,
                percentage=percentage,
            ),
        )

    def report(self, message: str | None = None, percentage: int | None = None) -> None:
        if self.active and not self._ended:
            self.ls.work_done_progress.report(
                self.token, types.WorkDoneProgressReport(message=message, percentage=percentage)
            )

    def end(self, message: str | None = None) -> None:
        self.ls.progress_tokens.pop(str(self.token), None)
        if self.active and not self._ended:
            self._ended = True
            self.ls.work_done_progress.end(self.token, types.WorkDoneProgressEnd(message=message))
            self.ls.work_done_progress.tokens.pop(self.token, None)


def setup(server: GreyCloudLanguageServer) -> None:
    """Register the progress-cancel handler (progress state lives in the session)."""
    server.feature(types.WINDOW_WORK_DONE_PROGRESS_CANCEL)(on_progress_cancel)


def on_progress_cancel(
    ls: GreyCloudLanguageServer, params: types.WorkDoneProgressCancelParams
) -> None:
    hook = ls.progress_tokens.get(str(params.token))
    if hook is not None:
        log.info("progress %s cancelled by the user", params.token)
        hook()
