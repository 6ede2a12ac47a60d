"""Every GenerateContentConfig field as a per-request option, on both clients.

What reaches the wire is read from the emulator's request log; `.parsed` is
filled by google-genai from the emulator's schema-shaped JSON answer.
"""

from __future__ import annotations

import typing

import pytest
from google.genai import types
from pydantic import BaseModel

from greycloud import GreyCloudAsyncClient, GreyCloudCache, GreyCloudClient, GreyCloudConfig
from greycloud._option_types import GenerationOptions
from greycloud._options import ACCEPTED_OPTIONS
from greycloud._request import prepare_request
from greycloud.rules import ConfigError
from tests.helpers import DATASTORE, body_of, words


class Step(BaseModel):
    order: int
    action: str


class Recipe(BaseModel):
    name: str
    servings: int
    vegetarian: bool
    steps: list[Step]


WIRE_OPTIONS = {
    "stop_sequences": ["END"],
    "top_k": 20,
    "candidate_count": 1,
    "presence_penalty": 0.5,
    "frequency_penalty": 0.25,
    "response_logprobs": True,
    "logprobs": 3,
    "labels": {"team": "search"},
    "thinking_budget": 256,
    "include_thoughts": True,
    "media_resolution": "MEDIA_RESOLUTION_LOW",
    "tool_config": {"function_calling_config": {"mode": "ANY"}},
    "response_modalities": ["TEXT"],
}


def _camel(thinking: dict) -> dict:
    """google-genai writes thinkingConfig's keys in snake_case; Vertex takes both."""
    return {k.replace("_b", "B").replace("_t", "T"): v for k, v in thinking.items()}


def _assert_wire(body: dict) -> None:
    generation = body["generationConfig"]
    assert generation["stopSequences"] == ["END"]
    assert generation["topK"] == 20
    assert generation["candidateCount"] == 1
    assert (generation["presencePenalty"], generation["frequencyPenalty"]) == (0.5, 0.25)
    assert generation["responseLogprobs"] is True and generation["logprobs"] == 3
    assert generation["mediaResolution"] == "MEDIA_RESOLUTION_LOW"
    assert generation["responseModalities"] == ["TEXT"]
    assert _camel(generation["thinkingConfig"]) == {"thinkingBudget": 256, "includeThoughts": True}
    assert body["labels"] == {"team": "search"}
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}


async def test_config_fields_reach_the_wire_from_both_clients(adc_env):
    config = GreyCloudConfig(temperature=0.3, system_instruction="Be brief.")
    with GreyCloudClient(config) as client:
        client.generate_content("Hello", **WIRE_OPTIONS)
    async with GreyCloudAsyncClient(config) as aclient:
        await aclient.generate_content("Hello", **WIRE_OPTIONS)
    sync_body, async_body = (r.body for r in adc_env.state.requests_for("generateContent"))
    assert sync_body == async_body
    _assert_wire(sync_body)
    # the config's defaults still apply next to the new options
    assert sync_body["generationConfig"]["temperature"] == 0.3
    assert sync_body["systemInstruction"]["parts"][0]["text"] == "Be brief."


def test_options_reach_the_wire_of_streams_and_retries(adc_env):
    with GreyCloudClient() as client:
        "".join(client.generate_content_stream("Hello", **WIRE_OPTIONS))
        client.generate_with_retry("Hello", 2, **WIRE_OPTIONS)
    _assert_wire(body_of(adc_env, "streamGenerateContent"))
    _assert_wire(body_of(adc_env))


@pytest.mark.parametrize("schema_option", ["response_schema", "response_json_schema"])
async def test_json_output_is_parsed_into_the_pydantic_model(adc_env, schema_option):
    options = {"response_mime_type": "application/json", schema_option: Recipe}
    with GreyCloudClient() as client:
        response = client.generate_content("A soup recipe", **options)
    assert isinstance(response.parsed, Recipe)
    assert response.parsed.steps and isinstance(response.parsed.steps[0], Step)
    async with GreyCloudAsyncClient() as aclient:
        async_response = await aclient.generate_with_retry("A soup recipe", **options)
    assert async_response.parsed == response.parsed  # the emulator is deterministic
    generation = body_of(adc_env)["generationConfig"]
    assert generation["responseMimeType"] == "application/json"
    wire_key = "responseSchema" if schema_option == "response_schema" else "responseJsonSchema"
    assert "steps" in generation[wire_key]["properties"]


def test_a_dict_schema_gives_a_dict(adc_env):
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "rain": {"type": "boolean"}},
        "required": ["city", "rain"],
    }
    with GreyCloudClient() as client:
        response = client.generate_content(
            "Weather?", response_mime_type="application/json", response_json_schema=schema
        )
    assert set(response.parsed) == {"city", "rain"} and isinstance(response.parsed["rain"], bool)


def test_unknown_option_says_the_close_name(adc_env):
    with GreyCloudClient() as client, pytest.raises(TypeError) as error:
        client.generate_content("Hi", stop_sequence=["x"])
    assert "unknown option 'stop_sequence'" in str(error.value)
    assert "Did you mean 'stop_sequences'?" in str(error.value)
    assert adc_env.state.requests_for("generateContent") == []


def test_an_invalid_value_is_refused_by_google_genais_model(adc_env):
    with GreyCloudClient() as client, pytest.raises(ValueError, match="option top_k: "):
        client.generate_content("Hi", top_k="many")
    with GreyCloudClient() as client, pytest.raises(ValueError, match="stop_sequences"):
        client.generate_content("Hi", stop_sequences=[{"not": "a string"}])
    assert adc_env.state.requests_for("generateContent") == []


def test_the_existing_range_rules_still_apply():
    config = GreyCloudConfig(project_id="p")
    with pytest.raises(ConfigError, match="temperature=3"):
        prepare_request(config, "hi", temperature=3, top_k=5)


def test_thinking_options_fold_into_one_config():
    config = GreyCloudConfig(project_id="p", thinking_level="low")
    default = prepare_request(config, "hi", top_k=3).config.thinking_config
    assert default.thinking_level == types.ThinkingLevel.LOW  # with other options too
    budget = prepare_request(config, "hi", thinking_budget=128).config.thinking_config
    assert budget.thinking_budget == 128 and budget.thinking_level is None  # default yields
    both = prepare_request(config, "hi", thinking_level="high", include_thoughts=True)
    assert both.config.thinking_config.thinking_level == types.ThinkingLevel.HIGH
    assert both.config.thinking_config.include_thoughts is True
    with pytest.raises(ConfigError, match="thinking_level and thinking_budget"):
        prepare_request(config, "hi", thinking_level="high", thinking_budget=10)


def test_user_tools_merge_with_the_configs_vertex_ai_search(adc_env):
    config = GreyCloudConfig(use_vertex_ai_search=True, vertex_ai_search_datastore=DATASTORE)
    with GreyCloudClient(config) as client:
        client.generate_content(
            "Search please", tools=[types.Tool(google_search=types.GoogleSearch())]
        )
    tools = body_of(adc_env)["tools"]
    assert tools[0] == {"googleSearch": {}}
    assert "retrieval" in tools[1]


def test_cache_requests_take_new_options_but_refuse_tools(emu):
    caches = GreyCloudCache(GreyCloudConfig(model="gemini-2.5-flash"))
    cache = caches.create_cache_from_text(words(1200), display_name="opts")
    response = caches.generate_with_cache(
        cache.name, "Summarize", response_mime_type="application/json", response_schema=Recipe
    )
    assert isinstance(response.parsed, Recipe)
    assert body_of(emu)["generationConfig"]["responseMimeType"] == "application/json"
    with pytest.raises(ValueError, match="tools cannot be combined with cached_content"):
        caches.generate_with_cache(cache.name, "Hi", tools=[types.Tool(google_search={})])
    caches.close()


def test_type_hints_name_exactly_the_accepted_options():
    hinted = set(typing.get_type_hints(GenerationOptions))
    missing = sorted(ACCEPTED_OPTIONS - hinted)
    assert not missing, f"add to greycloud/_option_types.py: {missing}"
    assert not hinted - ACCEPTED_OPTIONS


def test_a_content_system_instruction_is_sent_as_given(adc_env):
    instruction = types.Content(parts=[types.Part.from_text(text="Answer in French.")])
    with GreyCloudClient() as client:
        client.generate_content("Hello", system_instruction=instruction)
    assert body_of(adc_env)["systemInstruction"]["parts"] == [{"text": "Answer in French."}]
