"""Request building adds no work google-genai would not do for the same request.

An empty `GenerateContentConfig` is never built, a config is built once per set
of options and reused, and a single turn reaches the SDK as a lone `Content`.
The wire stays the same (checked against the emulator).
"""

from __future__ import annotations

import pytest
from google.genai import types

from greycloud import GreyCloudAsyncClient, GreyCloudClient, GreyCloudConfig
from greycloud._request import prepare_request
from tests.helpers import body_of


def test_no_options_means_no_config():
    prepared = prepare_request(GreyCloudConfig(project_id="p"), "hello")
    assert prepared.config is None


def test_the_same_options_reuse_one_config():
    config = GreyCloudConfig(project_id="p", temperature=0.4, system_instruction="Be brief.")
    first = prepare_request(config, "one")
    second = prepare_request(config, "two")
    assert first.config is second.config
    other = prepare_request(config, "three", temperature=0.9)
    assert other.config is not first.config
    assert other.config.temperature == 0.9
    assert other.config.system_instruction == "Be brief."


def test_safety_settings_are_built_per_call():
    config = GreyCloudConfig(
        project_id="p",
        safety_settings=[{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_ONLY_HIGH"}],
    )
    prepared = prepare_request(config, "hi")
    assert prepared.config.safety_settings[0].threshold == types.HarmBlockThreshold.BLOCK_ONLY_HIGH


def test_cached_content_leaves_out_the_configs_search_tool():
    datastore = "projects/p/locations/global/collections/c/dataStores/d"
    config = GreyCloudConfig(
        project_id="p", use_vertex_ai_search=True, vertex_ai_search_datastore=datastore
    )
    assert prepare_request(config, "hi").config.tools[0].retrieval.vertex_ai_search.datastore == (
        datastore
    )
    assert prepare_request(config, "hi", cached_content="c1").config.tools is None


def test_a_single_turn_is_passed_alone():
    config = GreyCloudConfig(project_id="p")
    single = prepare_request(config, ["a", "b"])
    assert isinstance(single.sdk_contents, types.Content)
    assert [p.text for p in single.sdk_contents.parts] == ["a", "b"]
    turns = [
        types.Content(role="user", parts=[types.Part.from_text(text="q")]),
        types.Content(role="model", parts=[types.Part.from_text(text="a")]),
    ]
    several = prepare_request(config, turns)
    assert several.sdk_contents == turns


def test_plain_request_sends_no_generation_config(adc_env):
    with GreyCloudClient() as client:
        client.generate_content("Hello")
    body = body_of(adc_env)
    assert "generationConfig" not in body
    assert body["contents"] == [{"role": "user", "parts": [{"text": "Hello"}]}]


@pytest.mark.parametrize("retries", [0, 2])
async def test_async_options_reach_the_wire_with_and_without_retries(adc_env, retries):
    async with GreyCloudAsyncClient(GreyCloudConfig(temperature=0.25)) as client:
        await client.generate_with_retry("Hi", max_retries=retries, max_output_tokens=64)
    generation = body_of(adc_env)["generationConfig"]
    assert generation == {"temperature": 0.25, "maxOutputTokens": 64}


def test_google_genai_leaves_a_shared_config_unchanged(adc_env):
    """Reusing configs relies on the SDK copying a config before it changes it."""
    config = GreyCloudConfig(temperature=0.5, system_instruction="Be brief.", thinking_level="low")
    shared = prepare_request(config, "x").config
    before = shared.model_dump()
    with GreyCloudClient(config) as client:
        client.generate_content("one")
        "".join(client.generate_content_stream("two"))
    assert prepare_request(config, "y").config is shared
    assert shared.model_dump() == before, "google-genai changed a config it was given"


def test_the_same_extended_options_reuse_one_config():
    config = GreyCloudConfig(project_id="p")
    schema = {"type": "OBJECT", "properties": {"answer": {"type": "STRING"}}}
    options = {"response_mime_type": "application/json", "response_schema": schema}
    first = prepare_request(config, "one", stop_sequences=["END"], **options)
    assert prepare_request(config, "two", stop_sequences=["END"], **options).config is (
        first.config
    )
    assert prepare_request(config, "x", stop_sequences=["STOP"], **options).config is not (
        first.config
    )
    schema["properties"]["score"] = {"type": "INTEGER"}  # the caller changes its dict
    changed = prepare_request(config, "three", stop_sequences=["END"], **options).config
    assert changed is not first.config and "score" in changed.response_schema["properties"]
    assert "score" not in first.config.response_schema["properties"]
    # a model instance has no hashable value: built per call
    search = [types.Tool(google_search=types.GoogleSearch())]
    assert prepare_request(config, "a", tools=search).config is not (
        prepare_request(config, "b", tools=search).config
    )
