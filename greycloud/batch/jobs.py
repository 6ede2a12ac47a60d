"""Batch job states, their errors, and waiting for a job to finish.

Each status read goes through the shared retry policy (`greycloud.retry`):
transient failures (429, 5xx, dropped connections) are retried with backoff,
anything else fails at once with a `GreyCloudError` saying what to do.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from google.genai import types

from greycloud import retry
from greycloud.errors import GreyCloudError

if TYPE_CHECKING:
    from google import genai

logger = logging.getLogger("greycloud.batch")

JobRef = types.BatchJob | str

TERMINAL_STATES = frozenset(
    {
        types.JobState.JOB_STATE_SUCCEEDED,
        types.JobState.JOB_STATE_FAILED,
        types.JobState.JOB_STATE_CANCELLED,
        types.JobState.JOB_STATE_PARTIALLY_SUCCEEDED,
        types.JobState.JOB_STATE_EXPIRED,
    }
)
FAILED_STATES = frozenset(
    {
        types.JobState.JOB_STATE_FAILED,
        types.JobState.JOB_STATE_CANCELLED,
        types.JobState.JOB_STATE_EXPIRED,
    }
)
RESULT_STATES = frozenset(
    {types.JobState.JOB_STATE_SUCCEEDED, types.JobState.JOB_STATE_PARTIALLY_SUCCEEDED}
)
MAX_POLL_FAILURES = 5
POLL_RETRY_POLICY = retry.RetryPolicy(
    max_retries=MAX_POLL_FAILURES - 1, initial_delay=2.0, max_delay=30.0, reauth=False
)
"""How a status read is retried: up to 5 attempts, about 2, 4, 8 and 16 s apart."""


class BatchJobFailedError(GreyCloudError):
    """A batch job ended FAILED, CANCELLED or EXPIRED. ``job`` is its last state."""

    def __init__(self, message: str, *, job: types.BatchJob):
        super().__init__(message)
        self.job = job
        self.state = job.state


class BatchTimeoutError(GreyCloudError):
    """``monitor_batch_job`` gave up waiting; the job itself keeps running."""


def job_name(job: JobRef) -> str:
    """The resource name (or id) of a job given as a `BatchJob` or a string."""
    name = job.name if isinstance(job, types.BatchJob) else job
    if not name or not isinstance(name, str):
        raise ValueError("A batch job (or its name) is required.")
    return name.strip()


def state_name(job: types.BatchJob) -> str:
    """``SUCCEEDED``, ``RUNNING``, ... (``UNKNOWN`` when the job has no state)."""
    state = job.state
    if state is None:
        return "UNKNOWN"
    return str(getattr(state, "value", state)).removeprefix("JOB_STATE_")


def completion_counts(job: types.BatchJob) -> str:
    """``N succeeded, N failed, N incomplete`` from the job's completion stats."""
    stats = job.completion_stats
    if stats is None:
        return "no completion stats"
    return (
        f"{stats.successful_count or 0} succeeded, {stats.failed_count or 0} failed, "
        f"{stats.incomplete_count or 0} incomplete"
    )


def job_summary(job: types.BatchJob) -> str:
    """One line: name, state and completion counts."""
    return f"{job.name}: {state_name(job)} ({completion_counts(job)})"


def read_job(
    client: genai.Client,
    job: JobRef,
    *,
    policy: retry.RetryPolicy = POLL_RETRY_POLICY,
    sa_email: str | None = None,
) -> types.BatchJob:
    """The job's current state, retrying transient failures under ``policy``."""
    name = job_name(job)
    retrying = retry.sync_retrying(policy, lambda _exc, _delay: None)
    try:
        return retrying(lambda: client.batches.get(name=name))
    except Exception as exc:
        attempts = retry.attempts_made(retrying)
        raise retry.translate(exc, sa_email=sa_email, attempts=attempts) from exc


def wait_for_job(
    read: Callable[[JobRef], types.BatchJob],
    job: JobRef,
    interval: float,
    *,
    callback: Callable[[types.BatchJob], Any] | None = None,
    on_poll: Callable[[types.BatchJob], Any] | None = None,
    timeout: float | None = None,
) -> types.BatchJob:
    """Read ``job`` every ``interval`` seconds until it reaches a terminal state.

    ``callback`` runs on every state change (and once at the start), ``on_poll``
    after every read; past ``timeout`` seconds `BatchTimeoutError` is raised.
    """
    started = time.monotonic()
    current = job if isinstance(job, types.BatchJob) and job.state is not None else read(job)
    previous: types.JobState | None = None
    while True:
        if current.state != previous:
            logger.info("batch job %s: %s", current.name, state_name(current))
            previous = current.state
            if callback is not None:
                callback(current)
        if on_poll is not None:
            on_poll(current)
        if current.state in TERMINAL_STATES:
            return current
        if timeout is not None and time.monotonic() - started >= timeout:
            raise BatchTimeoutError(
                f"Batch job {current.name} is still {state_name(current)} after "
                f"{timeout:g}s; it keeps running: monitor it again later."
            )
        time.sleep(interval)
        current = read(current)


def check_outcome(job: types.BatchJob, raise_on_failure: bool) -> types.BatchJob:
    """``job``, after a warning for partial success or `BatchJobFailedError` for failure."""
    if job.state == types.JobState.JOB_STATE_PARTIALLY_SUCCEEDED:
        logger.warning("batch job %s partially succeeded: %s", job.name, completion_counts(job))
    if job.state in FAILED_STATES and raise_on_failure:
        detail = job.error.message if job.error and job.error.message else "no details"
        raise BatchJobFailedError(
            f"Batch job {job.name} ended {state_name(job)}: {detail}.", job=job
        )
    return job
