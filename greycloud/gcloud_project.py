"""The project of the active ``gcloud`` configuration, asked once per process.

``gcloud config get-value project`` takes 1-2 s, so its answer is cached for
each value of what it depends on (`GCLOUD_ENVIRONMENT_VARIABLES`), and
concurrent callers wait for one run instead of starting their own.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Mapping

DEFAULT_TIMEOUT_SECONDS = 5.0
# What ``gcloud config get-value project`` depends on besides its own files.
GCLOUD_ENVIRONMENT_VARIABLES: tuple[str, ...] = (
    "PATH",
    "HOME",
    "CLOUDSDK_CONFIG",
    "CLOUDSDK_ACTIVE_CONFIG_NAME",
    "CLOUDSDK_CORE_PROJECT",
)

_answers: dict[tuple[str | None, ...], str | None] = {}
_running: dict[tuple[str | None, ...], threading.Lock] = {}
_lock = threading.Lock()  # held only briefly: safe to take on an event loop


def _key(environ: Mapping[str, str]) -> tuple[str | None, ...]:
    return tuple(environ.get(name) for name in GCLOUD_ENVIRONMENT_VARIABLES)


def cached_gcloud_project(environ: Mapping[str, str] | None = None) -> tuple[bool, str | None]:
    """``(known, project)``: the cached answer for ``environ``, never running ``gcloud``."""
    key = _key(os.environ if environ is None else environ)
    with _lock:
        if key in _answers:
            return True, _answers[key]
    return False, None


def forget_gcloud_project(environ: Mapping[str, str] | None = None) -> None:
    """Drop the cached answer for ``environ`` (every answer if None)."""
    with _lock:
        if environ is None:
            _answers.clear()
        else:
            _answers.pop(_key(environ), None)


def gcloud_default_project(
    timeout: float | None = None, *, environ: Mapping[str, str] | None = None
) -> str | None:
    """The project of the active ``gcloud`` configuration, or None.

    Runs ``gcloud`` at most once per process for one environment; later calls
    read the cache (`forget_gcloud_project` clears it). Never interactive and
    bounded by ``timeout`` (default `DEFAULT_TIMEOUT_SECONDS`); any failure
    means "unknown". This blocks: async code runs it in a worker thread.
    """
    environ = os.environ if environ is None else environ
    key = _key(environ)
    with _lock:
        if key in _answers:
            return _answers[key]
        running = _running.setdefault(key, threading.Lock())
    with running:
        with _lock:
            if key in _answers:
                return _answers[key]
        project = _run_gcloud(environ, DEFAULT_TIMEOUT_SECONDS if timeout is None else timeout)
        with _lock:
            _answers[key] = project
    return project


def _run_gcloud(environ: Mapping[str, str], timeout: float) -> str | None:
    gcloud = shutil.which("gcloud", path=environ.get("PATH"))
    if gcloud is None:
        return None
    env = None
    if environ is not os.environ:
        env = {k: v for k, v in os.environ.items() if k not in GCLOUD_ENVIRONMENT_VARIABLES}
        env.update({k: environ[k] for k in GCLOUD_ENVIRONMENT_VARIABLES if k in environ})
    try:
        completed = subprocess.run(
            [gcloud, "config", "get-value", "project", "--quiet"],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            env=env,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    value = completed.stdout.strip()
    if completed.returncode != 0 or not value or value == "(unset)":
        return None
    return value
