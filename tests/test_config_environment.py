"""What GreyCloudConfig reads: ``environ=``, the ``gcloud`` project look-up (once per process,
never on an event loop) and a session's credentials file."""

from __future__ import annotations

import asyncio
import os

import pytest

from greycloud import AuthenticationError, GreyCloudAsyncClient
from greycloud.auth import credentials_from_config
from greycloud.config import ENVIRONMENT_VARIABLES, GreyCloudConfig
from greycloud.gcloud_project import forget_gcloud_project, gcloud_default_project
from tests.helpers import loop_lags

PROJECT_LOOKUP = ["config", "get-value", "project"]


def lookups(fake_gcloud) -> int:
    return sum(1 for argv in fake_gcloud.calls() if argv[:3] == PROJECT_LOOKUP)


def test_gcloud_runs_once_per_process(fake_gcloud):
    fake_gcloud.set_project("from-gcloud")
    assert GreyCloudConfig().project_id == "from-gcloud"
    assert GreyCloudConfig(model="gemini-2.5-pro").project_id == "from-gcloud"
    assert lookups(fake_gcloud) == 1
    fake_gcloud.set_project("changed")
    forget_gcloud_project()
    assert GreyCloudConfig().project_id == "changed"
    assert lookups(fake_gcloud) == 2


async def test_concurrent_lookups_share_one_gcloud_run(fake_gcloud):
    fake_gcloud.set_project("from-gcloud")
    fake_gcloud.hang(0.5, only=PROJECT_LOOKUP)
    projects = await asyncio.gather(*(asyncio.to_thread(gcloud_default_project) for _ in range(4)))
    assert projects == ["from-gcloud"] * 4
    assert lookups(fake_gcloud) == 1


def test_environ_replaces_the_process_environment(fake_gcloud, monkeypatch):
    monkeypatch.setenv("PROJECT_ID", "process-project")
    monkeypatch.setenv("GREYCLOUD_RPM", "7")
    config = GreyCloudConfig(environ={"PROJECT_ID": "session-project", "LOCATION": "europe-west4"})
    assert (config.project_id, config.location, config.rpm) == (
        "session-project",
        "europe-west4",
        None,
    )
    assert config.replace(model="gemini-2.5-pro").project_id == "session-project"


def test_gcloud_lookup_uses_the_sessions_path(fake_gcloud, monkeypatch, tmp_path):
    fake_gcloud.set_project("from-gcloud")
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    assert GreyCloudConfig().project_id is None
    config = GreyCloudConfig(environ={"PATH": str(fake_gcloud.directory)})
    assert config.project_id == "from-gcloud"


def test_the_project_answer_is_kept_per_gcloud_environment(fake_gcloud):
    """Any CLOUDSDK_* variable can change gcloud's answer (another account or property):
    two windows that differ in one get their own look-up, and equal ones share it."""
    path = {"PATH": str(fake_gcloud.directory)}
    fake_gcloud.set_project("project-of-a")
    window_a = {**path, "CLOUDSDK_CORE_ACCOUNT": "a@example.com"}
    assert GreyCloudConfig(environ=window_a).project_id == "project-of-a"
    fake_gcloud.set_project("project-of-b")
    window_b = {**path, "CLOUDSDK_CORE_ACCOUNT": "b@example.com"}
    assert GreyCloudConfig(environ=window_b).project_id == "project-of-b"
    assert GreyCloudConfig(environ=dict(window_a)).project_id == "project-of-a"
    assert lookups(fake_gcloud) == 2


async def test_async_client_made_in_a_loop_asks_gcloud_in_a_thread(
    adc_env, fake_gcloud, monkeypatch
):
    monkeypatch.delenv("PROJECT_ID")
    fake_gcloud.set_project("emulator-project")
    fake_gcloud.hang(1.5, only=PROJECT_LOOKUP)
    async with loop_lags() as lags:
        client = GreyCloudAsyncClient()
        assert lookups(fake_gcloud) == 0, "gcloud ran while the client was constructed"
        assert client.config.project_pending
        response = await client.generate_content("hello [[words=3]]")
    await client.aclose()
    assert response.text
    assert client.config.project_id == "emulator-project"
    assert lookups(fake_gcloud) == 1
    assert max(lags) < 0.75, f"the event loop stalled {max(lags):.2f}s"


async def test_config_made_in_a_loop_defers_an_unknown_answer(fake_gcloud):
    fake_gcloud.set_project("from-gcloud")
    config = GreyCloudConfig()
    assert (config.project_id, config.project_pending, lookups(fake_gcloud)) == (None, True, 0)
    assert await asyncio.to_thread(config.resolve_project_id) == "from-gcloud"
    assert not config.project_pending
    again = GreyCloudConfig()  # the answer is known now: used at once, no new look-up
    assert (again.project_id, again.project_pending, lookups(fake_gcloud)) == (
        "from-gcloud",
        False,
        1,
    )


async def test_credentials_file_of_the_config_environment_is_used(sa_key_file, emulator):
    environ = {
        "GOOGLE_APPLICATION_CREDENTIALS": str(sa_key_file),
        "PROJECT_ID": "emulator-project",
        "GREYCLOUD_ENDPOINT": emulator.url,
        "GREYCLOUD_IAM_ENDPOINT": emulator.url,
    }
    assert "GOOGLE_APPLICATION_CREDENTIALS" not in os.environ
    async with GreyCloudAsyncClient(GreyCloudConfig(environ=environ)) as client:
        response = await client.generate_content("hello [[words=3]]")
    assert response.text


class RecordingEnviron(dict):
    """An environment that notes every variable looked up."""

    def __init__(self) -> None:
        super().__init__()
        self.read: set[str] = set()

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)


def test_environment_variables_lists_exactly_what_the_config_reads(fake_gcloud):
    environ = RecordingEnviron()
    GreyCloudConfig(environ=environ, resolve_project=False)
    assert environ.read == set(ENVIRONMENT_VARIABLES)


@pytest.mark.parametrize(
    "content", ["{not json", '{"type": "no_such_kind"}'], ids=["broken", "unknown-kind"]
)
def test_an_unusable_credentials_file_says_what_to_do(tmp_path, content, fake_gcloud):
    key = tmp_path / "key.json"
    key.write_text(content)
    config = GreyCloudConfig(
        environ={"GOOGLE_APPLICATION_CREDENTIALS": str(key), "PROJECT_ID": "p"}
    )
    with pytest.raises(AuthenticationError) as error:
        credentials_from_config(config)
    message = str(error.value)
    assert f"cannot use the credentials file {key}" in message
    assert "gcloud auth application-default login" in message
