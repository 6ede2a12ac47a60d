"""The project of the active ``gcloud`` configuration, asked once per process.

``gcloud config get-value project`` takes 1-2 s, so its answer is cached for
each value of what it depends on (`gcloud_variables`: ``PATH``, ``HOME`` and
every ``CLOUDSDK_*``), and concurrent callers wait for one run instead of
starting their own. `gcloud_environment` is the environment every ``gcloud``
GreyCloud runs gets (also the token fallback in `greycloud.auth`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Mapping

DEFAULT_TIMEOUT_SECONDS = 5.0
# What ``gcloud config get-value project`` depends on besides its own files (and every
# other ``CLOUDSDK_*`` variable: gcloud reads any property from CLOUDSDK_<SECTION>_<NAME>).
GCLOUD_ENVIRONMENT_VARIABLES: tuple[str, ...] = (
    "PATH",
    "HOME",
    "APPDATA",
    "CLOUDSDK_CONFIG",
    "CLOUDSDK_ACTIVE_CONFIG_NAME",
    "CLOUDSDK_CORE_PROJECT",
)
GCLOUD_PREFIX = "CLOUDSDK_"
# Variables of the process that may choose an identity: never passed to a session's gcloud.
_IDENTITY_PREFIXES = (GCLOUD_PREFIX, "GOOGLE_", "GCLOUD_", "GREYCLOUD_")

_answers: dict[tuple[tuple[str, str], ...], str | None] = {}
_running: dict[tuple[tuple[str, str], ...], threading.Lock] = {}
_lock = threading.Lock()  # held only briefly: safe to take on an event loop


def gcloud_variables(environ: Mapping[str, str]) -> dict[str, str]:
    """What ``gcloud`` reads of ``environ``: ``PATH``, ``HOME``, every ``CLOUDSDK_*``."""
    return {
        name: value
        for name, value in environ.items()
        if name in GCLOUD_ENVIRONMENT_VARIABLES or name.startswith(GCLOUD_PREFIX)
    }


def gcloud_environment(environ: Mapping[str, str]) -> dict[str, str] | None:
    """The environment of a ``gcloud`` run for ``environ`` (None: inherit this process's).

    For another environment than ``os.environ`` (one editor session's), gcloud
    finds its executable, account, configuration and project in that
    environment alone: this process's ``PATH``, ``HOME``, ``CLOUDSDK_*``,
    ``GOOGLE_*`` and ``GREYCLOUD_*`` are left out, its other variables (locale,
    temporary directory, proxies) kept.
    """
    if environ is os.environ:
        return None
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in GCLOUD_ENVIRONMENT_VARIABLES and not name.startswith(_IDENTITY_PREFIXES)
    }
    env.update(gcloud_variables(environ))
    return env


def find_gcloud(environ: Mapping[str, str]) -> str | None:
    """The ``gcloud`` executable on ``environ``'s ``PATH`` (the system default path if unset)."""
    path = environ.get("PATH") or os.defpath if environ is not os.environ else None
    return shutil.which("gcloud", path=path)


def _key(environ: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(gcloud_variables(environ).items()))


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
    gcloud = find_gcloud(environ)
    if gcloud is None:
        return None
    env = gcloud_environment(environ)
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
