"""The daemon process's own environment: what it needs to run, nothing that names an identity.

The daemon serves windows started from different environments (projects,
service accounts, gcloud configurations). Each session's credentials, project
and ``gcloud`` come from the environment its forwarder sends in the handshake,
never from the daemon's; so that nothing can fall back to the environment of
whichever window happened to start the daemon, the forwarder starts it with
only the variables below (`daemon_environment`), and ``daemon run`` drops
everything else from its own ``os.environ`` too (`scrub_process_environment`).

Kept: where to run and find things (``PATH``, ``HOME``, ``USER``, ``LOGNAME``,
``SHELL``, ``TMPDIR``/``TEMP``/``TMP``, ``XDG_RUNTIME_DIR``,
``XDG_CACHE_HOME``), the locale (``LANG``, ``LANGUAGE``, ``LC_*``, ``TZ``),
the Python interpreter's own (``PYTHONPATH``, ``PYTHONHOME``,
``PYTHONUTF8``, ``PYTHONIOENCODING``, ``VIRTUAL_ENV``), the local tokenizer's
model cache (``HF_HOME``, ``HF_HUB_CACHE``, ``HF_HUB_OFFLINE``) and the
network the daemon's own HTTP connections use (``HTTP(S)_PROXY``,
``NO_PROXY``, ``ALL_PROXY`` in either case, ``SSL_CERT_FILE``,
``SSL_CERT_DIR``, ``REQUESTS_CA_BUNDLE``). Everything else is dropped: every
``GOOGLE_*``, ``CLOUDSDK_*``, ``GCE_*``, ``GREYCLOUD_*``, API keys, tokens.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

KEPT_VARIABLES: frozenset[str] = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "TMPDIR",
        "TEMP",
        "TMP",
        "XDG_RUNTIME_DIR",
        "XDG_CACHE_HOME",
        "LANG",
        "LANGUAGE",
        "TZ",
        "PYTHONPATH",
        "PYTHONHOME",
        "PYTHONUTF8",
        "PYTHONIOENCODING",
        "VIRTUAL_ENV",
        "HF_HOME",
        "HF_HUB_CACHE",
        "HF_HUB_OFFLINE",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
        "all_proxy",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
    }
)
KEPT_PREFIXES: tuple[str, ...] = ("LC_",)


def kept(name: str) -> bool:
    """Whether the daemon keeps the variable ``name``."""
    return name in KEPT_VARIABLES or name.startswith(KEPT_PREFIXES)


def daemon_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment to start a daemon with: ``environ`` (default ``os.environ``) scrubbed."""
    env = os.environ if environ is None else environ
    return {name: value for name, value in env.items() if kept(name)}


def scrub_process_environment() -> list[str]:
    """Drop every variable a daemon does not keep from ``os.environ``; the names dropped."""
    dropped = sorted(name for name in os.environ if not kept(name))
    for name in dropped:
        del os.environ[name]
    return dropped
