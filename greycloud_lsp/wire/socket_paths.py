"""Where the daemon lives: a private directory per user, one socket per kind.

``$XDG_RUNTIME_DIR/greycloud/`` when that variable is set, else
``<tempdir>/greycloud-<uid>/``. The directory is 0700 and must be owned by us;
the socket is 0600. ``kind`` is ``"daemon"`` (real Vertex AI) or
``"emulator"`` (``--emulator`` sessions), so the two never mix.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

KINDS = ("daemon", "emulator")
# sockaddr_un.sun_path is 108 bytes on Linux, 104 on macOS; keep the smaller.
MAX_SOCKET_PATH = 103


class DaemonUnavailable(RuntimeError):
    """The daemon cannot be reached or started; the message says why."""


@dataclass(frozen=True)
class DaemonPaths:
    """The files of one daemon kind."""

    directory: Path
    kind: str

    @property
    def socket(self) -> Path:
        return self.directory / f"{self.kind}.sock"

    @property
    def lock(self) -> Path:
        """Held (flock) by the running daemon for its whole life."""
        return self.directory / f"{self.kind}.lock"

    @property
    def spawn_lock(self) -> Path:
        """Held by the one forwarder that is starting a daemon."""
        return self.directory / f"{self.kind}.spawn.lock"

    @property
    def pid_file(self) -> Path:
        return self.directory / f"{self.kind}.pid"

    @property
    def log_file(self) -> Path:
        return self.directory / f"{self.kind}.log"

    @property
    def cache_registry(self) -> Path:
        """The caches the daemon holds, for the next daemon (``daemon/cache_file.py``)."""
        return self.directory / f"{self.kind}.caches.json"


def runtime_directory(environ: Mapping[str, str] | None = None) -> Path:
    """The per-user directory (not created)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_RUNTIME_DIR")
    if base:
        return Path(base) / "greycloud"
    return Path(tempfile.gettempdir()) / f"greycloud-{os.getuid()}"


def daemon_paths(kind: str = "daemon", environ: Mapping[str, str] | None = None) -> DaemonPaths:
    """Paths for ``kind``; the directory itself is checked by :func:`ensure_private_directory`."""
    if kind not in KINDS:
        raise ValueError(f"unknown daemon kind {kind!r}; expected one of {KINDS}")
    paths = DaemonPaths(runtime_directory(environ), kind)
    if len(os.fsencode(paths.socket)) > MAX_SOCKET_PATH:
        raise DaemonUnavailable(
            f"socket path {paths.socket} is longer than {MAX_SOCKET_PATH} bytes; "
            "set XDG_RUNTIME_DIR to a shorter directory"
        )
    return paths


def ensure_private_directory(directory: Path) -> None:
    """Create ``directory`` 0700, or check an existing one is ours and private.

    Raises :class:`DaemonUnavailable` naming the problem (not writable, owned by
    someone else, a symlink, ...).
    """
    try:
        directory.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        directory.mkdir(mode=0o700, exist_ok=True)
        info = os.lstat(directory)
    except OSError as exc:
        raise DaemonUnavailable(f"cannot create {directory}: {exc.strerror or exc}") from exc
    if not stat.S_ISDIR(info.st_mode):
        raise DaemonUnavailable(f"{directory} is not a directory (a symlink?); remove it")
    if info.st_uid != os.getuid():
        raise DaemonUnavailable(
            f"{directory} belongs to uid {info.st_uid}, not to you (uid {os.getuid()}); "
            "set XDG_RUNTIME_DIR to a directory of your own"
        )
    if stat.S_IMODE(info.st_mode) != 0o700:
        try:
            os.chmod(directory, 0o700)
        except OSError as exc:
            raise DaemonUnavailable(f"cannot make {directory} private: {exc}") from exc
    if not os.access(directory, os.W_OK | os.X_OK):
        raise DaemonUnavailable(f"{directory} is not writable")


def open_private(path: Path, flags: int = os.O_RDWR | os.O_CREAT) -> int:
    """``os.open`` a file 0600 without following a symlink planted at ``path``."""
    return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
