"""Shared pytest fixtures: hermetic environment, Vertex AI emulator, fake gcloud.

* ``isolated_env`` (autouse): no ambient GCP/GreyCloud configuration, no
  metadata-server probing, ``$HOME``/``CLOUDSDK_CONFIG`` under ``tmp_path``,
  and a fake ``gcloud`` first on ``PATH`` (the real one never runs).
* ``emulator``: a session-wide :class:`EmulatorServer`, reset before each test.
* ``sa_key_file`` / ``adc_env``: real service-account ADC pointing at the emulator.
* ``fake_gcloud``: program the fake ``gcloud`` (tokens, project, hangs) and
  read back the argv of every call.
"""

from __future__ import annotations

import os

# google-auth reads this once, at import, and only honours the lowercase value:
# without it every test that lacks ADC waits 3 s probing a metadata server.
os.environ["NO_GCE_CHECK"] = "true"

import json
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from greycloud.emulator import EmulatorServer, write_service_account_key
from greycloud.gcloud_project import forget_gcloud_project
from tests.helpers import kill_daemons

# Cloud Storage emulator (cache and batch tests) and a real redis-server (shared quota).
pytest_plugins = ["tests.storage_emulator", "tests.redis_server", "tests.redis_topologies"]

CLEARED_ENV_VARS = (
    "PROJECT_ID",
    "GCP_PROJECT",
    "GOOGLE_CLOUD_PROJECT",
    "GCLOUD_PROJECT",
    "CLOUDSDK_CORE_PROJECT",
    "LOCATION",
    "GCP_LOCATION",
    "GOOGLE_CLOUD_LOCATION",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_GENAI_USE_VERTEXAI",
    "GOOGLE_VERTEX_BASE_URL",
    "GOOGLE_GEMINI_BASE_URL",
    "GOOGLE_GENAI_API_VERSION",
    "GOOGLE_GENAI_HTTP_CLIENT",
    "GOOGLE_CLOUD_QUOTA_PROJECT",
    "GOOGLE_AUTH_TRUST_BOUNDARY_ENABLED",
    "GOOGLE_API_USE_CLIENT_CERTIFICATE",
    "GOOGLE_API_USE_MTLS_ENDPOINT",
    "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE",
    "CLOUDSDK_AUTH_IMPERSONATE_SERVICE_ACCOUNT",
    # Read after the GREYCLOUD_ names (the PyPI greycloud package's names).
    "USE_API_KEY",
    "API_KEY_FILE",
    "AUTO_REAUTH",
    "SA_EMAIL",
    "MODEL",
)
GCLOUD_NOT_CONFIGURED = "fake gcloud: not configured"

FAKE_GCLOUD_SCRIPT = '''\
#!{python}
"""Fake gcloud driven by config.json next to this file; appends argv to calls.jsonl."""
import json, pathlib, sys, time

here = pathlib.Path(__file__).resolve().parent
args = sys.argv[1:]
with open(here / "calls.jsonl", "a") as log:
    log.write(json.dumps(args) + "\\n")
config = json.loads((here / "config.json").read_text())
words = [a for a in args if not a.startswith("-")]
hang_only = config.get("hang_only")
if not hang_only or words[:len(hang_only)] == hang_only:
    time.sleep(config.get("hang", 0))
if config.get("fail") is not None:
    sys.stderr.write(config["fail"]["message"] + "\\n")
    sys.exit(config["fail"]["exit_code"])
impersonate = ""
for i, a in enumerate(args):
    if a.startswith("--impersonate-service-account"):
        impersonate = a.partition("=")[2] or (args[i + 1] if i + 1 < len(args) else "")
tokens = config.get("tokens", {{}})
if words[:2] == ["auth", "print-access-token"] or words[:3] == [
    "auth", "application-default", "print-access-token"
]:
    token = tokens.get(impersonate, tokens.get(""))
    if token:
        print(token)
        sys.exit(0)
if words[:3] == ["config", "get-value", "project"] and config.get("project"):
    print(config["project"])
    sys.exit(0)
if words[:1] == ["version"] or "--version" in args:
    print("Google Cloud SDK 999.0.0 (fake)")
    sys.exit(0)
sys.stderr.write({not_configured!r} + ": " + " ".join(args) + "\\n")
sys.exit(1)
'''


class FakeGcloud:
    """A programmable fake ``gcloud`` executable living in ``directory``.

    Unconfigured commands exit 1 with ``"fake gcloud: not configured"`` on stderr.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / "gcloud"
        directory.mkdir(parents=True, exist_ok=True)
        script = FAKE_GCLOUD_SCRIPT.format(
            python=sys.executable, not_configured=GCLOUD_NOT_CONFIGURED
        )
        self.path.write_text(script)
        self.path.chmod(self.path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        self._config: dict[str, Any] = {}
        self._save()

    def _save(self) -> None:
        (self.directory / "config.json").write_text(json.dumps(self._config))

    def set_access_token(self, token: str, *, impersonate: str | None = None) -> None:
        """Print ``token`` for ``auth [application-default] print-access-token``.

        With ``impersonate`` the token is only used for that
        ``--impersonate-service-account``; without it, for every call.
        """
        self._config.setdefault("tokens", {})[impersonate or ""] = token
        self._save()

    def set_project(self, project: str) -> None:
        """Print ``project`` for ``config get-value project``."""
        self._config["project"] = project
        self._save()

    def hang(self, seconds: float, *, only: list[str] | None = None) -> None:
        """Sleep ``seconds`` before answering any command (or only ``only``, e.g.
        ``["config", "get-value", "project"]``)."""
        self._config["hang"] = seconds
        self._config["hang_only"] = only
        self._save()

    def fail(self, message: str = "ERROR: (gcloud) fake failure", exit_code: int = 1) -> None:
        """Make every command print ``message`` to stderr and exit ``exit_code``."""
        self._config["fail"] = {"message": message, "exit_code": exit_code}
        self._save()

    def reset(self) -> None:
        """Back to the unconfigured default (the call log is kept)."""
        self._config = {}
        self._save()

    def calls(self) -> list[list[str]]:
        """argv (without ``gcloud``) of every invocation so far."""
        log = self.directory / "calls.jsonl"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines() if line]


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeGcloud]:
    """Hermetic environment for every test; returns the (unconfigured) fake gcloud.

    Removes every variable GreyCloud, google-auth or google-genai read (and all
    ``GREYCLOUD_*``), points ``HOME``, ``CLOUDSDK_CONFIG`` and ``XDG_*`` at
    ``tmp_path``, disables metadata-server probing (google-auth reads
    ``NO_GCE_CHECK`` once at import and only honours ``"true"``, hence the
    module-level setting and the patched flag) and puts the fake ``gcloud``
    first on ``PATH``. ``STORAGE_EMULATOR_HOST`` is left alone.
    ``XDG_RUNTIME_DIR`` is ``tmp_path/run``: greycloud-lsp daemons the test
    starts live there, and are killed (by PID) when it ends.
    """
    for name in CLEARED_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    for name in list(os.environ):
        if name.startswith("GREYCLOUD_"):
            monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    for sub in ("", ".config", ".cache", ".local/share", ".config/gcloud"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local/share"))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(home / ".config/gcloud"))
    # greycloud-lsp daemons started by the test live (and are stopped) here.
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    from google.auth.compute_engine import _metadata

    monkeypatch.setattr(_metadata, "_NO_GCE_CHECK", True)
    gcloud = FakeGcloud(tmp_path / "fake_gcloud")
    monkeypatch.setenv("PATH", f"{gcloud.directory}{os.pathsep}{os.environ.get('PATH', '')}")
    forget_gcloud_project()  # the look-up is cached per process
    yield gcloud
    kill_daemons(tmp_path / "run")


@pytest.fixture
def fake_gcloud(isolated_env: FakeGcloud) -> FakeGcloud:
    """The fake ``gcloud`` on ``PATH``; program it with ``set_access_token`` etc."""
    return isolated_env


@pytest.fixture(scope="session")
def _emulator_server() -> Iterator[EmulatorServer]:
    with EmulatorServer() as server:
        yield server


@pytest.fixture
def emulator(_emulator_server: EmulatorServer) -> EmulatorServer:
    """The session's emulator with ``state.reset()`` applied (tokens stay valid)."""
    _emulator_server.state.reset()
    return _emulator_server


@pytest.fixture
def sa_key_file(tmp_path: Path, emulator: EmulatorServer) -> Path:
    """A real service-account key file whose ``token_uri`` is ``emulator.url + "token"``."""
    path = tmp_path / "sa-key.json"
    write_service_account_key(path, token_uri=emulator.url + "token")
    return path


@pytest.fixture
def adc_env(
    monkeypatch: pytest.MonkeyPatch, sa_key_file: Path, emulator: EmulatorServer
) -> EmulatorServer:
    """ADC env for the emulator (key file, project, location, endpoint); returns it."""
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(sa_key_file))
    monkeypatch.setenv("PROJECT_ID", "emulator-project")
    monkeypatch.setenv("LOCATION", "us-central1")
    monkeypatch.setenv("GREYCLOUD_ENDPOINT", emulator.url)
    return emulator


@pytest.fixture
def emu(adc_env: EmulatorServer) -> EmulatorServer:
    """``adc_env`` with no context cache left over from another test."""
    from greycloud.emulator.cache_routes import cache_store

    cache_store(adc_env.state).clear()
    return adc_env
