"""Strict booleans (code and environment), the multi-region hosts, and the PyPI
``greycloud`` package's environment names read after ours."""

from __future__ import annotations

import asyncio

import pytest

from greycloud import ConfigError, GreyCloudAsyncClient, GreyCloudClient, GreyCloudConfig
from greycloud._genai_compat import request_url
from greycloud.config import BOOLEAN_FIELDS, ENVIRONMENT_VARIABLES
from greycloud.rules import FALSE_WORDS, TRUE_WORDS, parse_bool

ENV_OF_FIELD = {
    "use_api_key": "GREYCLOUD_USE_API_KEY",
    "auto_reauth": "GREYCLOUD_AUTO_REAUTH",
    "use_vertex_ai_search": "GREYCLOUD_USE_VERTEX_AI_SEARCH",
}
DATASTORE = "projects/p/locations/global/collections/c/dataStores/d"


def config(**values) -> GreyCloudConfig:
    values.setdefault("project_id", "p")
    values.setdefault("vertex_ai_search_datastore", DATASTORE)
    values.setdefault("api_key", "k")
    return GreyCloudConfig(**values)


# -- booleans -----------------------------------------------------------------------


@pytest.mark.parametrize("field", BOOLEAN_FIELDS)
@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("false", False),
        ("FALSE", False),
        (" no ", False),
        ("0", False),
        ("off", False),
        (0, False),
        (False, False),
        ("true", True),
        ("Yes", True),
        ("1", True),
        ("on", True),
        (1, True),
        (True, True),
    ],
)
def test_booleans_from_code(field, given, expected):
    assert getattr(config(**{field: given}), field) is expected


@pytest.mark.parametrize("field", BOOLEAN_FIELDS)
@pytest.mark.parametrize("given", ["maybe", "", "2", 2, 0.5, "truthy", "nein"])
def test_other_values_from_code_name_the_field(field, given):
    with pytest.raises(ConfigError) as info:
        config(**{field: given})
    assert info.value.field == field
    message = str(info.value)
    assert message.startswith(f"{field}={given!r}")
    assert "true/false, 1/0, yes/no or on/off" in message


def test_string_false_never_turns_api_key_mode_on(fake_gcloud):
    fake_gcloud.set_project("from-gcloud")
    made = GreyCloudConfig(use_api_key="false")
    assert made.use_api_key is False
    assert made.project_id == "from-gcloud"  # OAuth mode: the project was looked up


@pytest.mark.parametrize(("field", "variable"), sorted(ENV_OF_FIELD.items()))
@pytest.mark.parametrize(("raw", "expected"), [("off", False), ("TRUE", True), ("0", False)])
def test_booleans_from_the_environment(field, variable, raw, expected):
    assert getattr(config(environ={variable: raw}), field) is expected


@pytest.mark.parametrize(("field", "variable"), sorted(ENV_OF_FIELD.items()))
def test_bad_environment_boolean_names_field_and_variable(field, variable):
    with pytest.raises(ConfigError) as info:
        config(environ={variable: "sometimes"})
    assert info.value.field == field
    assert f"environment variable {variable}" in str(info.value)


def test_blank_environment_boolean_means_unset():
    assert config(environ={"GREYCLOUD_AUTO_REAUTH": "  "}).auto_reauth is True


def test_one_rule_for_every_boolean():
    assert set(TRUE_WORDS) == {"true", "1", "yes", "on"}
    assert set(FALSE_WORDS) == {"false", "0", "no", "off"}
    assert parse_bool("x", "On") is True
    with pytest.raises(ConfigError):
        parse_bool("x", None)


# -- multi-region hosts ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "host"),
    [
        ("us", "https://aiplatform.us.rep.googleapis.com/"),
        ("eu", "https://aiplatform.eu.rep.googleapis.com/"),
        ("global", "https://aiplatform.googleapis.com/"),
        ("europe-west4", "https://europe-west4-aiplatform.googleapis.com/"),
    ],
)
def test_the_sdk_sends_to_the_locations_host(sa_key_file, monkeypatch, location, host):
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(sa_key_file))
    made = GreyCloudConfig(project_id="p", location=location)
    assert made.base_url == host
    path = "publishers/google/models/gemini-embedding-001:embedContent"
    expected = f"{host}v1beta1/projects/p/locations/{location}/{path}"
    with GreyCloudClient(made) as client:
        assert request_url(client.client, path) == expected

    async def async_url() -> str:
        async with GreyCloudAsyncClient(made) as client:
            return request_url(await client.ensure_client(), path)

    assert asyncio.run(async_url()) == expected


def test_location_us_from_the_environment():
    assert GreyCloudConfig(project_id="p", environ={"LOCATION": "eu"}).base_url == (
        "https://aiplatform.eu.rep.googleapis.com/"
    )


# -- the PyPI greycloud package's names ------------------------------------------------


def test_peer_names_are_read(tmp_path):
    key_file = tmp_path / "key.txt"
    key_file.write_text("AIza-peer-key\n")
    made = GreyCloudConfig(
        environ={
            "USE_API_KEY": "true",
            "API_KEY_FILE": str(key_file),
            "AUTO_REAUTH": "false",
            "SA_EMAIL": "sa@p.iam.gserviceaccount.com",
            "PROJECT_ID": "p",
        }
    )
    assert made.use_api_key is True
    assert made.api_key_file == str(key_file)
    assert made.auto_reauth is False
    assert made.sa_email == "sa@p.iam.gserviceaccount.com"


def test_our_names_come_first():
    made = GreyCloudConfig(
        environ={
            "PROJECT_ID": "p",
            "GREYCLOUD_USE_API_KEY": "no",
            "USE_API_KEY": "yes",
            "GREYCLOUD_API_KEY_FILE": "/ours",
            "API_KEY_FILE": "/theirs",
            "GREYCLOUD_AUTO_REAUTH": "on",
            "AUTO_REAUTH": "off",
        }
    )
    assert (made.use_api_key, made.api_key_file, made.auto_reauth) == (False, "/ours", True)


def test_code_comes_before_every_environment_name():
    made = GreyCloudConfig(project_id="p", auto_reauth=False, environ={"AUTO_REAUTH": "true"})
    assert made.auto_reauth is False


def test_bad_peer_boolean_names_the_variable():
    with pytest.raises(ConfigError, match="environment variable AUTO_REAUTH"):
        GreyCloudConfig(project_id="p", environ={"AUTO_REAUTH": "interactive"})


def test_peer_names_are_listed():
    for name in ("USE_API_KEY", "API_KEY_FILE", "AUTO_REAUTH", "GREYCLOUD_EMBEDDING_MODEL"):
        assert name in ENVIRONMENT_VARIABLES


def test_an_api_key_put_in_a_boolean_variable_is_not_echoed():
    key = "AIzaSyA1234567890abcdefghijklmnopqrstuv"  # USE_API_KEY=<the key>: an easy slip
    for value in (key, "s3cr3t-passphrase-of-a-user-x"):
        with pytest.raises(ConfigError, match="GREYCLOUD_USE_API_KEY") as info:
            GreyCloudConfig(project_id="p", environ={"GREYCLOUD_USE_API_KEY": value})
        assert value not in str(info.value)
        assert "not shown" in str(info.value)
