"""Batch prediction jobs as the emulator keeps them: states, settings, the job store.

Test hooks on :class:`BatchSettings`: ``fail_next`` makes the next job fail,
``shuffle_output`` writes results out of order, ``final_state`` forces the
terminal state (e.g. ``JOB_STATE_EXPIRED``); ``polls_per_step`` and
``seconds_per_step`` set how fast a job advances (see ``batch_runner``).
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
from dataclasses import dataclass, field, fields
from typing import Any

from greycloud.emulator.cache_routes import rfc3339
from greycloud.emulator.state import EmulatorState

PENDING = "JOB_STATE_PENDING"
RUNNING = "JOB_STATE_RUNNING"
SUCCEEDED = "JOB_STATE_SUCCEEDED"
FAILED = "JOB_STATE_FAILED"
CANCELLED = "JOB_STATE_CANCELLED"
PARTIAL = "JOB_STATE_PARTIALLY_SUCCEEDED"
EXPIRED = "JOB_STATE_EXPIRED"
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED, PARTIAL, EXPIRED})


@dataclass
class BatchSettings:
    """How jobs advance and which faults to inject."""

    polls_per_step: int = 1
    seconds_per_step: float | None = None
    fail_next: str | None = None
    shuffle_output: bool = False
    final_state: str | None = None
    storage_host: str | None = None


@dataclass
class BatchJobEntry:
    """One batch prediction job."""

    job_id: str
    name: str
    display_name: str
    model: str
    input_uris: list[str]
    output_prefix: str
    state: str
    create_time: dt.datetime
    update_time: dt.datetime
    start_time: dt.datetime | None = None
    end_time: dt.datetime | None = None
    output_directory: str | None = None
    error: dict[str, Any] | None = None
    stats: dict[str, int] | None = None
    polls: int = 0
    running: bool = False
    step_started: float = field(default_factory=time.monotonic)

    def to_json(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "name": self.name,
            "displayName": self.display_name,
            "model": self.model,
            "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": self.input_uris}},
            "outputConfig": {
                "predictionsFormat": "jsonl",
                "gcsDestination": {"outputUriPrefix": self.output_prefix},
            },
            "state": self.state,
            "createTime": rfc3339(self.create_time),
            "updateTime": rfc3339(self.update_time),
        }
        if self.start_time:
            payload["startTime"] = rfc3339(self.start_time)
        if self.end_time:
            payload["endTime"] = rfc3339(self.end_time)
        if self.output_directory:
            payload["outputInfo"] = {"gcsOutputDirectory": self.output_directory}
        if self.error:
            payload["error"] = self.error
        if self.stats is not None:
            payload["completionStats"] = {k: str(v) for k, v in self.stats.items()}
        return payload


@dataclass
class BatchStore:
    """Jobs and settings; kept on the emulator state as ``state.extensions['batch_jobs']``."""

    settings: BatchSettings = field(default_factory=BatchSettings)
    jobs: dict[str, BatchJobEntry] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1000001), repr=False)

    def configure(self, **changes: Any) -> None:
        """Change settings by name (unknown names raise ``TypeError``)."""
        known = {f.name for f in fields(BatchSettings)}
        unknown = set(changes) - known
        if unknown:
            raise TypeError(f"unknown batch settings {sorted(unknown)}; known: {sorted(known)}")
        with self.lock:
            for key, value in changes.items():
                setattr(self.settings, key, value)

    def reset(self) -> None:
        with self.lock:
            self.settings = BatchSettings()
            self.jobs.clear()

    def new_id(self) -> str:
        with self.lock:
            return str(next(self._ids))

    def take_failure(self) -> str | None:
        with self.lock:
            message, self.settings.fail_next = self.settings.fail_next, None
            return message


def batch_store(state: EmulatorState) -> BatchStore:
    """The state's :class:`BatchStore` (created on first use)."""
    return state.extensions.setdefault("batch_jobs", BatchStore())


def utc_now() -> dt.datetime:
    """The current time, timezone-aware (UTC)."""
    return dt.datetime.now(dt.timezone.utc)
