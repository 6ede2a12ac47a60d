"""Per-document scheduling: debounce, one model call at a time, cancel when the text moves on.

The debounce adapts to the typist (as Tabby's does): a request waits for
``debounceMs`` of quiet, or for `RHYTHM_FACTOR` times the median gap between
the document's recent edits when that is longer (at most `MAX_STRETCH` times
``debounceMs``), so a slow typist's ordinary gaps between keys are not taken
for pauses. Gaps longer than `PAUSE_SECONDS` are pauses, not rhythm.

Each request takes a new *turn* of its document. A turn ends when a newer
request arrives or the document changes (`DocumentTurns.supersede`): its
debounce wait returns at once with False, and its model call is cancelled
(the library closes the HTTP request, so the model stops too). So at most one
model call per document runs, always for the latest text.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import deque
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

RHYTHM_FACTOR = 2.5
MAX_STRETCH = 3.0
PAUSE_SECONDS = 1.0
RHYTHM_EDITS = 12


class Superseded(Exception):
    """The turn ended (newer text or a newer request) before its answer came."""


class DocumentTurns:
    """The turns of one document."""

    def __init__(self) -> None:
        self.turn = 0
        self._ended = asyncio.Event()
        self._call: asyncio.Task[Any] | None = None
        self._last_edit: float | None = None
        self._gaps: deque[float] = deque(maxlen=RHYTHM_EDITS)

    def edited(self, now: float | None = None) -> None:
        """Note an edit of the document (its rhythm stretches the debounce)."""
        now = time.monotonic() if now is None else now
        if self._last_edit is not None and now - self._last_edit < PAUSE_SECONDS:
            self._gaps.append(now - self._last_edit)
        self._last_edit = now

    def quiet_needed(self, base: float) -> float:
        """Seconds of quiet before asking: ``base``, stretched for a slow typist."""
        if len(self._gaps) < 3:
            return base
        rhythm = RHYTHM_FACTOR * statistics.median(self._gaps)
        return max(base, min(rhythm, MAX_STRETCH * base))

    def begin(self) -> int:
        """A new request: end the current turn, start the next; returns its number."""
        self.supersede()
        return self.turn

    def supersede(self) -> bool:
        """End the current turn (its wait returns, its call is cancelled); True if a call was."""
        self.turn += 1
        self._ended.set()
        self._ended = asyncio.Event()
        call, self._call = self._call, None
        if call is not None and not call.done():
            call.cancel()
            return True
        return False

    def current(self, turn: int) -> bool:
        return turn == self.turn

    async def debounce(self, turn: int, base: float) -> bool:
        """Wait for quiet (`quiet_needed`, counted from the last edit); False if the
        turn ended meanwhile."""
        if not self.current(turn):
            return False
        seconds = self.quiet_needed(base)
        if self._last_edit is not None:
            seconds -= time.monotonic() - self._last_edit
        if seconds > 0:
            ended = self._ended
            try:
                await asyncio.wait_for(ended.wait(), seconds)
            except asyncio.TimeoutError:
                pass
        return self.current(turn)

    async def call(self, turn: int, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` as the document's one model call; `Superseded` if the turn ends first.

        Cancelling the caller (the client's ``$/cancelRequest``) cancels the call too.
        """
        if not self.current(turn):
            work.close()
            raise Superseded
        task = asyncio.ensure_future(work)
        self._call = task
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.cancelled() and not self.current(turn):
                raise Superseded from None
            task.cancel()  # the request itself was cancelled
            raise
        finally:
            if self._call is task:
                self._call = None
