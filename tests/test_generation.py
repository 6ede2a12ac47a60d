"""Every generation option reaches the wire; contents shapes; streaming; counting."""

from __future__ import annotations

import pytest
from google.genai import types

from greycloud import GreyCloudClient, GreyCloudConfig
from greycloud.emulator import count_tokens as emulator_count
from greycloud.errors import APICallError
from tests.helpers import DATASTORE, body_of, thinking_level_of


@pytest.fixture
def client(adc_env):
    with GreyCloudClient() as client:
        yield client


def test_config_defaults_reach_the_wire(adc_env):
    config = GreyCloudConfig(
        temperature=0.3,
        top_p=0.8,
        max_output_tokens=200,
        seed=7,
        system_instruction="Be brief.",
        thinking_level="low",
        safety_settings=[{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_ONLY_HIGH"}],
    )
    GreyCloudClient(config).generate_content("Hello")
    body = body_of(adc_env)
    generation = body["generationConfig"]
    assert generation["temperature"] == 0.3
    assert generation["topP"] == 0.8
    assert generation["maxOutputTokens"] == 200
    assert generation["seed"] == 7
    assert thinking_level_of(generation) == "LOW"
    assert body["systemInstruction"]["parts"][0]["text"] == "Be brief."
    assert body["safetySettings"] == [
        {"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_ONLY_HIGH"}
    ]
    assert "tools" not in body


def test_per_request_overrides_win(adc_env):
    config = GreyCloudConfig(temperature=0.3, max_output_tokens=200, system_instruction="Old.")
    GreyCloudClient(config).generate_content(
        "Hello",
        temperature=0.9,
        max_output_tokens=50,
        system_instruction="New.",
        top_p=0.5,
        seed=1,
        thinking_level="HIGH",
        model="gemini-2.5-pro",
        safety_settings=[
            types.SafetySetting(
                category=types.HarmCategory.HARM_CATEGORY_DANGEROUS_CONTENT,
                threshold=types.HarmBlockThreshold.BLOCK_LOW_AND_ABOVE,
            )
        ],
    )
    request = adc_env.state.requests_for("generateContent")[-1]
    assert request.model == "gemini-2.5-pro"
    generation = request.body["generationConfig"]
    assert (generation["temperature"], generation["maxOutputTokens"]) == (0.9, 50)
    assert thinking_level_of(generation) == "HIGH"
    assert request.body["systemInstruction"]["parts"][0]["text"] == "New."
    assert request.body["safetySettings"][0]["threshold"] == "BLOCK_LOW_AND_ABOVE"


def test_vertex_ai_search_tool_is_wired(adc_env):
    config = GreyCloudConfig(use_vertex_ai_search=True, vertex_ai_search_datastore=DATASTORE)
    GreyCloudClient(config).generate_content("What do the docs say?")
    [tool] = body_of(adc_env)["tools"]
    # google-genai writes this key in snake_case; Vertex's JSON parser takes both.
    search = tool["retrieval"].get("vertexAiSearch") or tool["retrieval"]["vertex_ai_search"]
    assert search == {"datastore": DATASTORE}


def test_cached_content_leaves_out_config_instruction_and_tools(adc_env):
    config = GreyCloudConfig(
        system_instruction="Default.",
        use_vertex_ai_search=True,
        vertex_ai_search_datastore=DATASTORE,
    )
    client = GreyCloudClient(config)
    name = "projects/emulator-project/locations/us-central1/cachedContents/abc"
    # The emulator holds no such cache (404): only the request shape matters here.
    with pytest.raises(APICallError, match="404"):
        client.generate_content("Summarize", cached_content=name)
    body = body_of(adc_env)
    assert body["cachedContent"] == name
    assert "systemInstruction" not in body and "tools" not in body


def test_explicit_instruction_with_cache_fails_before_sending(adc_env):
    client = GreyCloudClient()
    with pytest.raises(
        ValueError, match="system_instruction cannot be combined with cached_content"
    ):
        client.generate_content("Hi", cached_content="cachedContents/x", system_instruction="S")
    assert adc_env.state.requests_for("generateContent") == []


@pytest.mark.parametrize(
    "contents",
    [
        "Hello there",
        types.Content(role="user", parts=[types.Part.from_text(text="Hello there")]),
        [types.Content(role="user", parts=[types.Part.from_text(text="Hello there")])],
        {"role": "user", "parts": [{"text": "Hello there"}]},
        [{"role": "user", "parts": [{"text": "Hello there"}]}],
        ["Hello", "there"],
    ],
    ids=["str", "Content", "list-Content", "dict", "list-dict", "list-str"],
)
def test_contents_shapes(client, adc_env, contents):
    client.generate_content(contents)
    [content] = body_of(adc_env)["contents"]
    assert content["role"] == "user"
    assert " ".join(p["text"] for p in content["parts"]).replace("  ", " ") == "Hello there"


@pytest.mark.parametrize("contents", [None, [], "", "   ", [42]])
def test_bad_contents_are_refused_clearly(client, adc_env, contents):
    with pytest.raises((ValueError, TypeError), match="contents"):
        client.generate_content(contents)
    assert adc_env.state.requests_for("generateContent") == []


def test_bad_safety_setting_names_its_index(client):
    with pytest.raises(ValueError, match=r"safety_settings\[0\]"):
        client.generate_content("Hi", safety_settings=[{"category": "NOT_A_CATEGORY"}])


def test_stream_yields_chunks_equal_to_the_full_text(client, adc_env):
    prompt = "Tell a long story [[words=80]]"
    full = client.generate_content(prompt).text
    stream = client.generate_content_stream(prompt)
    chunks = list(stream)
    assert len(chunks) > 3
    assert "".join(chunks) == full == stream.text
    assert stream.finish_reason == "STOP"
    assert stream.usage_metadata.candidates_token_count == emulator_count(full)
    assert adc_env.state.requests_for("streamGenerateContent")[0].status == 200


def test_retry_streaming_form_yields_the_same_text(client):
    prompt = "Stream please [[words=40]]"
    full = client.generate_content(prompt).text
    assert "".join(client.generate_with_retry(prompt, streaming=True)) == full


def test_count_tokens_uses_the_api(client, adc_env):
    text = "Count the tokens in this example message."
    assert client.count_tokens(text) == emulator_count(text)
    with_instruction = client.count_tokens(text, system_instruction="You are a helpful assistant.")
    assert with_instruction == emulator_count(text) + emulator_count("You are a helpful assistant.")
    assert len(adc_env.state.requests_for("countTokens")) == 2


def test_count_tokens_falls_back_to_an_estimate(client, adc_env):
    adc_env.state.add_fault(500, action="countTokens")
    text = "x" * 100
    assert client.count_tokens(text) == 25
    adc_env.state.add_fault(500, action="countTokens")
    assert client.count_tokens("a") == 1  # never 0 for non-empty input


def test_count_tokens_without_fallback_raises(client, adc_env):
    from greycloud.errors import RetriesExhaustedError

    adc_env.state.add_fault(503, action="countTokens")
    with pytest.raises(RetriesExhaustedError, match="503"):
        client.count_tokens("hello", fallback=False)


def test_unknown_option_is_named(client, adc_env):
    with pytest.raises(TypeError, match="unknown option 'temprature': the options are model"):
        client.generate_content("Hi", temprature=0.5)
    assert adc_env.state.requests_for("generateContent") == []
