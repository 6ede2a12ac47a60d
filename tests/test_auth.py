"""Every auth path, through the real google-auth flows against the emulator."""

from __future__ import annotations

import os
import time

import pytest

from greycloud import GreyCloudClient, GreyCloudConfig
from greycloud.auth import create_client
from greycloud.errors import AuthenticationError, PermissionDeniedError

SA_EMAIL = "runner@emulator-project.iam.gserviceaccount.com"


def _bearer(entry) -> str:
    return entry.headers.get("Authorization", "").removeprefix("Bearer ")


def test_adc_service_account_key_gets_a_real_token(adc_env):
    emulator = adc_env
    response = GreyCloudClient().generate_content("Hello")
    assert response.text
    [token_request] = [r for r in emulator.state.requests if r.path == "/token"]
    assert token_request.status == 200
    [generate] = emulator.state.requests_for("generateContent")
    assert _bearer(generate).startswith("ya29.")
    assert generate.principal == "greycloud-test@emulator-project.iam.gserviceaccount.com"


def test_create_client_with_impersonation(adc_env, monkeypatch):
    emulator = adc_env
    monkeypatch.setenv("GREYCLOUD_IAM_ENDPOINT", emulator.url)
    client = create_client(
        "emulator-project", "us-central1", sa_email=SA_EMAIL, endpoint=emulator.url
    )
    client.models.generate_content(model="gemini-3-flash-preview", contents="Hi")
    iam = [r for r in emulator.state.requests if "generateAccessToken" in r.path]
    assert len(iam) == 1 and SA_EMAIL in iam[0].path
    [generate] = emulator.state.requests_for("generateContent")
    assert generate.principal == SA_EMAIL


def test_denied_impersonation_names_the_role(adc_env, monkeypatch):
    emulator = adc_env
    monkeypatch.setenv("GREYCLOUD_IAM_ENDPOINT", emulator.url)
    emulator.state.deny_impersonation(SA_EMAIL)
    client = GreyCloudClient(GreyCloudConfig(sa_email=SA_EMAIL))
    with pytest.raises(PermissionDeniedError) as error:
        client.generate_content("Hi")
    assert "roles/iam.serviceAccountTokenCreator" in str(error.value)
    assert SA_EMAIL in str(error.value)
    assert emulator.state.requests_for("generateContent") == []


def test_gcloud_fallback_when_adc_is_missing(emulator, fake_gcloud):
    token = emulator.state.issue_token("gcloud-user")
    fake_gcloud.set_access_token(token)
    config = GreyCloudConfig(project_id="emulator-project", endpoint=emulator.url)
    assert GreyCloudClient(config).generate_content("Hi").text
    assert ["auth", "print-access-token", "--quiet"] in fake_gcloud.calls()
    [generate] = emulator.state.requests_for("generateContent")
    assert _bearer(generate) == token


def test_gcloud_fallback_impersonates(emulator, fake_gcloud):
    token = emulator.state.issue_token(SA_EMAIL)
    fake_gcloud.set_access_token(token, impersonate=SA_EMAIL)
    config = GreyCloudConfig(
        project_id="emulator-project", endpoint=emulator.url, sa_email=SA_EMAIL
    )
    GreyCloudClient(config).generate_content("Hi")
    assert [
        "auth",
        "print-access-token",
        "--quiet",
        f"--impersonate-service-account={SA_EMAIL}",
    ] in fake_gcloud.calls()


def test_no_credentials_at_all_says_how_to_log_in(emulator, fake_gcloud):
    fake_gcloud.fail(
        "ERROR: (gcloud.auth.print-access-token) You do not currently have an active account"
    )
    config = GreyCloudConfig(project_id="emulator-project", endpoint=emulator.url)
    with pytest.raises(AuthenticationError) as error:
        GreyCloudClient(config).generate_content("Hi")
    assert "gcloud auth application-default login" in str(error.value)
    assert "active account" in str(error.value)


def test_hanging_gcloud_is_bounded(emulator, fake_gcloud, monkeypatch):
    from greycloud import auth

    monkeypatch.setattr(auth, "GCLOUD_TOKEN_TIMEOUT_SECONDS", 0.5)
    fake_gcloud.set_access_token("ya29.never")
    fake_gcloud.hang(30)
    config = GreyCloudConfig(project_id="emulator-project", endpoint=emulator.url)
    started = time.monotonic()
    with pytest.raises(AuthenticationError, match=r"did not answer within 0\.5s"):
        GreyCloudClient(config).generate_content("Hi")
    assert time.monotonic() - started < 15  # bounded by the 0.5 s timeout, not the 30 s hang


def test_api_key_mode(emulator):
    key = "AIza-emulator-key-123"
    emulator.state.add_api_key(key)
    config = GreyCloudConfig(use_api_key=True, api_key=key, endpoint=emulator.url)
    assert GreyCloudClient(config).generate_content("Hi").text
    [generate] = emulator.state.requests_for("generateContent")
    assert generate.headers.get("x-goog-api-key") == key
    assert "Authorization" not in generate.headers


def test_api_key_from_file(emulator, tmp_path):
    key = "AIza-from-file-456"
    emulator.state.add_api_key(key)
    key_file = tmp_path / "key.txt"
    key_file.write_text(key + "\n")
    config = GreyCloudConfig(use_api_key=True, api_key_file=str(key_file), endpoint=emulator.url)
    GreyCloudClient(config).generate_content("Hi")
    assert emulator.state.requests_for("generateContent")[0].headers["x-goog-api-key"] == key


def test_missing_api_key_file_names_the_path(tmp_path):
    missing = tmp_path / "nope.txt"
    config = GreyCloudConfig(use_api_key=True, api_key_file=str(missing))
    with pytest.raises(AuthenticationError, match=str(missing)):
        _ = GreyCloudClient(config).client


def test_wrong_api_key_is_rejected_without_leaking_it(emulator):
    config = GreyCloudConfig(use_api_key=True, api_key="AIza-wrong-key", endpoint=emulator.url)
    with pytest.raises(AuthenticationError) as error:
        GreyCloudClient(config).generate_content("Hi")
    assert "AIza-wrong-key" not in str(error.value)


GCLOUD_DUMPING_ENV = """#!{python}
import json, os, pathlib, sys
here = pathlib.Path(__file__).resolve().parent
(here / "env.json").write_text(json.dumps(dict(os.environ)))
print({token!r})
"""


def _gcloud_recording_its_environment(directory, token: str):
    """A fake ``gcloud`` that prints ``token`` and writes its environment to env.json."""
    import json
    import sys

    directory.mkdir(parents=True)
    script = directory / "gcloud"
    script.write_text(GCLOUD_DUMPING_ENV.format(python=sys.executable, token=token))
    script.chmod(0o755)
    return lambda: json.loads((directory / "env.json").read_text())


def test_a_session_environment_never_uses_the_process_credentials(
    adc_env, fake_gcloud, tmp_path, monkeypatch
):
    """This process has a key file and its own gcloud settings; a config reading another
    environment (an editor session's) without credentials fails as that environment would,
    then uses that environment's gcloud, run with its HOME/CLOUDSDK_* and none of ours."""
    monkeypatch.setenv("CLOUDSDK_CORE_ACCOUNT", "process-account@example.com")
    monkeypatch.setenv("GOOGLE_CLOUD_QUOTA_PROJECT", "process-project")
    session_home, session_gcloud = tmp_path / "session-home", tmp_path / "session-gcloud"
    session_home.mkdir()
    session_gcloud.mkdir()
    session = {
        "PATH": os.environ["PATH"],  # the (unconfigured) fake gcloud comes first
        "HOME": str(session_home),
        "CLOUDSDK_CONFIG": str(session_gcloud),
        "PROJECT_ID": "session-project",
        "GREYCLOUD_ENDPOINT": adc_env.url,
    }
    with pytest.raises(AuthenticationError, match="gcloud could not print an access token"):
        GreyCloudClient(GreyCloudConfig(environ=session)).generate_content("Hello")
    assert adc_env.state.requests_for("generateContent") == []

    token = adc_env.state.issue_token("session-user@example.com")
    environment_seen = _gcloud_recording_its_environment(tmp_path / "session-bin", token)
    session["PATH"] = f"{tmp_path / 'session-bin'}{os.pathsep}/usr/bin:/bin"
    session["CLOUDSDK_ACTIVE_CONFIG_NAME"] = "work"
    GreyCloudClient(GreyCloudConfig(environ=session)).generate_content("Hello")
    [generate] = adc_env.state.requests_for("generateContent")
    assert (generate.principal, generate.project) == ("session-user@example.com", "session-project")
    seen = environment_seen()
    assert seen["HOME"] == str(session_home) and seen["PATH"] == session["PATH"]
    assert seen["CLOUDSDK_CONFIG"] == str(session_gcloud)
    assert seen["CLOUDSDK_ACTIVE_CONFIG_NAME"] == "work"
    assert "CLOUDSDK_CORE_ACCOUNT" not in seen
    assert not [name for name in seen if name.startswith(("GOOGLE_", "GREYCLOUD_"))]
