"""GreyCloudConfig: environment, code, precedence and validation."""

from __future__ import annotations

import pytest

from greycloud import GreyCloudConfig
from greycloud.config import DEFAULT_MODEL


def test_defaults_without_environment(fake_gcloud):
    config = GreyCloudConfig()
    assert config.project_id is None
    assert config.location == "us-central1"
    assert config.model == DEFAULT_MODEL == "gemini-3-flash-preview"
    assert config.auto_reauth is True
    assert config.use_api_key is False
    assert config.base_url == "https://us-central1-aiplatform.googleapis.com/"


def test_values_from_environment(monkeypatch):
    monkeypatch.setenv("PROJECT_ID", "env-project")
    monkeypatch.setenv("LOCATION", "europe-west4")
    monkeypatch.setenv("GREYCLOUD_TEMPERATURE", "0.4")
    monkeypatch.setenv("GREYCLOUD_MAX_OUTPUT_TOKENS", "256")
    monkeypatch.setenv("GREYCLOUD_THINKING_LEVEL", "HIGH")
    monkeypatch.setenv("GREYCLOUD_RPM", "30")
    monkeypatch.setenv("BATCH_GCS_BUCKET", "jobs-bucket")
    config = GreyCloudConfig()
    assert config.project_id == "env-project"
    assert config.location == "europe-west4"
    assert config.temperature == 0.4
    assert config.max_output_tokens == 256
    assert config.thinking_level == "high"
    assert config.rpm == 30
    assert config.batch_gcs_bucket == "jobs-bucket"
    assert config.batch_location == "europe-west4"


def test_secondary_environment_names(monkeypatch):
    monkeypatch.setenv("GCP_PROJECT", "gcp-project")
    monkeypatch.setenv("GCP_LOCATION", "asia-northeast1")
    config = GreyCloudConfig()
    assert (config.project_id, config.location) == ("gcp-project", "asia-northeast1")


def test_code_wins_over_environment(monkeypatch):
    monkeypatch.setenv("PROJECT_ID", "env-project")
    monkeypatch.setenv("GREYCLOUD_ENDPOINT", "http://127.0.0.1:1/")
    config = GreyCloudConfig(project_id="code-project", endpoint="http://127.0.0.1:2/")
    assert config.project_id == "code-project"
    assert config.base_url == "http://127.0.0.1:2/"


def test_endpoint_falls_back_to_sdk_variable(monkeypatch):
    monkeypatch.setenv("GOOGLE_VERTEX_BASE_URL", "http://127.0.0.1:3/")
    assert GreyCloudConfig().endpoint == "http://127.0.0.1:3/"
    monkeypatch.setenv("GREYCLOUD_ENDPOINT", "http://127.0.0.1:4/")
    assert GreyCloudConfig().endpoint == "http://127.0.0.1:4/"


def test_project_from_gcloud_when_unset(fake_gcloud):
    fake_gcloud.set_project("from-gcloud")
    assert GreyCloudConfig().project_id == "from-gcloud"
    assert ["config", "get-value", "project", "--quiet"] in fake_gcloud.calls()


def test_gcloud_project_lookup_is_bounded(fake_gcloud, monkeypatch):
    import time

    from greycloud import config as config_module

    monkeypatch.setattr(config_module, "GCLOUD_TIMEOUT_SECONDS", 0.5)
    fake_gcloud.set_project("slow")
    fake_gcloud.hang(10)
    started = time.monotonic()
    assert GreyCloudConfig().project_id is None
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        (
            {"thinking_level": "extreme"},
            "thinking_level='extreme' is not valid: use one of minimal",
        ),
        ({"temperature": 2.5}, "temperature=2.5 is out of range"),
        ({"top_p": -0.1}, "top_p=-0.1 is out of range"),
        ({"max_output_tokens": 0}, "max_output_tokens=0"),
        ({"rpm": -1}, "rpm=-1"),
        ({"vertex_ai_search_datastore": "my-store"}, "vertex_ai_search_datastore='my-store'"),
        (
            {"use_vertex_ai_search": True},
            "use_vertex_ai_search=True needs vertex_ai_search_datastore",
        ),
        ({"endpoint": "localhost:8080"}, "endpoint='localhost:8080' is not a URL"),
    ],
)
def test_invalid_values_name_the_field(kwargs, fragment):
    with pytest.raises(ValueError) as error:
        GreyCloudConfig(project_id="p", **kwargs)
    assert fragment in str(error.value)


def test_invalid_environment_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("GREYCLOUD_TEMPERATURE", "warm")
    with pytest.raises(ValueError, match="GREYCLOUD_TEMPERATURE='warm' is not a valid float"):
        GreyCloudConfig(project_id="p")


def test_valid_datastore_path_is_accepted():
    path = "projects/p/locations/global/collections/default_collection/dataStores/docs"
    config = GreyCloudConfig(
        project_id="p", use_vertex_ai_search=True, vertex_ai_search_datastore=path
    )
    assert config.vertex_ai_search_datastore == path


def test_api_key_is_not_in_repr():
    config = GreyCloudConfig(use_api_key=True, api_key="AIza-secret-value")
    assert "AIza-secret-value" not in repr(config)


def test_replace_validates_again():
    config = GreyCloudConfig(project_id="p")
    assert config.replace(model="gemini-2.5-pro").model == "gemini-2.5-pro"
    with pytest.raises(ValueError, match="temperature"):
        config.replace(temperature=9)
