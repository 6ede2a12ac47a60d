"""Tools and automatic function calling on both clients, against the emulator.

The emulator answers a user text with a call to the matching declared
function and a function response with text quoting it, so each automatic
round trip is one real request in its log (and, on the async client, one
admission of the rate limiter).
"""

from __future__ import annotations

import pytest
from google.genai import types
from pydantic import BaseModel

from greycloud import GreyCloudAsyncClient, GreyCloudClient
from greycloud._options import DEFAULT_MAXIMUM_REMOTE_CALLS
from greycloud.emulator import count_tokens
from tests.helpers import FAST_RETRY, body_of, statuses

QUESTION = "What is the weather in Paris?"


class Forecast(BaseModel):
    city: str
    days: int


def _declared(body: dict) -> list[str]:
    return [d["name"] for t in body.get("tools", []) for d in t.get("functionDeclarations", [])]


def _function_parts(body: dict, key: str) -> list[dict]:
    return [p[key] for c in body["contents"] for p in c["parts"] if key in p]


@pytest.fixture
def calls() -> list[tuple]:
    return []


@pytest.fixture
def get_weather(calls):
    def get_weather(city: str, days: int = 1) -> dict:
        """The weather forecast for a city."""
        calls.append((city, days))
        return {"city": city, "temperature_c": 21}

    return get_weather


def test_sync_client_runs_the_function_and_asks_again(adc_env, get_weather, calls):
    with GreyCloudClient() as client:
        response = client.generate_content(QUESTION, tools=[get_weather])
    assert calls and calls[0][0] == "Paris"
    assert response.text.startswith(
        'Function get_weather returned {"result": {"city": "Paris", "temperature_c": 21}}.'
    )
    first, second = (r.body for r in adc_env.state.requests_for("generateContent"))
    assert _declared(first) == ["get_weather"]
    assert _function_parts(second, "functionCall")[0]["name"] == "get_weather"
    assert _function_parts(second, "functionResponse")[0]["response"]["result"]["city"] == "Paris"
    history = response.automatic_function_calling_history
    assert [c.role for c in history] == ["user", "model", "user"]


async def test_every_async_round_goes_through_the_limiter(adc_env, get_weather, calls):
    async with GreyCloudAsyncClient(retry_policy=FAST_RETRY) as client:
        response = await client.generate_with_retry(QUESTION, tools=[get_weather])
        assert client.rate_limiter.requests_in_window() == 2
        tokens = client.rate_limiter.tokens_in_window()
    log = adc_env.state.requests_for("generateContent")
    assert len(log) == 2 and len(calls) == 1
    assert response.text.startswith("Function get_weather returned")
    # both rounds were charged, each with the input tokens the server reported
    # (tpm_counts="input", the default: what Vertex AI's quota counts)
    assert tokens == count_tokens(QUESTION) + response.usage_metadata.prompt_token_count


async def test_async_functions_are_awaited_and_plain_ones_run_in_a_thread(adc_env):
    import threading

    threads: list[str] = []

    async def lookup_city(name: str) -> str:
        """Find a city."""
        threads.append(threading.current_thread().name)
        return f"{name} is in France"

    def plain_weather(city: str) -> str:
        """Plain weather lookup."""
        threads.append(threading.current_thread().name)
        return "sunny"

    async with GreyCloudAsyncClient() as client:
        first = await client.generate_content("lookup city Paris", tools=[lookup_city])
        second = await client.generate_content("plain weather Paris", tools=[plain_weather])
    assert 'returned {"result": "Paris is in France"}' in first.text
    assert 'returned {"result": "sunny"}' in second.text
    assert threads[0] == "MainThread" and threads[1] != "MainThread"


def test_the_sync_client_refuses_async_functions_before_sending(adc_env):
    async def lookup(city: str) -> str:
        """Async lookup."""
        return city

    with GreyCloudClient() as client, pytest.raises(TypeError, match="GreyCloudAsyncClient"):
        client.generate_content(QUESTION, tools=[lookup])
    assert adc_env.state.requests_for("generateContent") == []


def test_a_round_is_retried_and_the_function_runs_once(adc_env, calls):
    def get_weather(city: str) -> str:
        """Weather, and the next model request fails once."""
        calls.append(city)
        adc_env.state.add_fault(503, action="generateContent")
        return "rain"

    with GreyCloudClient(retry_policy=FAST_RETRY) as client:
        response = client.generate_with_retry(QUESTION, 3, tools=[get_weather])
    assert statuses(adc_env, "generateContent") == [200, 503, 200]
    assert calls == ["Paris"] and 'returned {"result": "rain"}' in response.text


@pytest.mark.parametrize("rounds", [1, 2])
async def test_maximum_remote_calls_limits_the_model_requests(adc_env, rounds):
    # A model that keeps calling: every answer is a call to this function again.
    def again(city: str) -> str:
        """Call me again please."""
        return "call again"

    tool_config = {"function_calling_config": {"mode": "ANY"}}
    async with GreyCloudAsyncClient() as client:
        response = await client.generate_content(
            "again Paris", tools=[again], tool_config=tool_config, maximum_remote_calls=rounds
        )
        assert client.rate_limiter.requests_in_window() == rounds
    assert len(adc_env.state.requests_for("generateContent")) == rounds
    # the last answer's calls come back unrun
    assert response.function_calls and response.function_calls[0].name == "again"


def test_the_default_round_limit_is_google_genais():
    assert DEFAULT_MAXIMUM_REMOTE_CALLS == 10


@pytest.mark.parametrize(
    "manual",
    [{"automatic_function_calling": {"disable": True}}, {"maximum_remote_calls": 0}],
    ids=["disable", "zero-rounds"],
)
async def test_manual_mode_returns_the_function_calls(adc_env, get_weather, calls, manual):
    with GreyCloudClient() as client:
        response = client.generate_content(QUESTION, tools=[get_weather], **manual)
    async with GreyCloudAsyncClient() as aclient:
        async_response = await aclient.generate_content(QUESTION, tools=[get_weather], **manual)
    assert calls == []
    for answer in (response, async_response):
        [call] = answer.function_calls
        assert call.name == "get_weather" and call.args["city"] == "Paris"
    assert len(adc_env.state.requests_for("generateContent")) == 2

    # answering the call yourself: the model then uses the result
    turn = response.candidates[0].content
    reply = types.Part.from_function_response(name="get_weather", response={"result": "fog"})
    with GreyCloudClient() as client:
        final = client.generate_content(
            [
                types.Content(role="user", parts=[types.Part.from_text(text=QUESTION)]),
                turn,
                types.Content(role="user", parts=[reply]),
            ],
            tools=[get_weather],
            **manual,
        )
    assert final.text.startswith('Function get_weather returned {"result": "fog"}.')


def test_declarations_without_python_functions_are_returned(adc_env):
    declaration = types.FunctionDeclaration(
        name="book_table",
        description="Book a table.",
        parameters_json_schema={
            "type": "object",
            "properties": {"guests": {"type": "integer", "minimum": 1, "maximum": 8}},
            "required": ["guests"],
        },
    )
    with GreyCloudClient() as client:
        response = client.generate_content(
            "Book a table", tools=[types.Tool(function_declarations=[declaration])]
        )
    [call] = response.function_calls
    assert call.name == "book_table" and 1 <= call.args["guests"] <= 8
    assert len(adc_env.state.requests_for("generateContent")) == 1


def test_arguments_are_converted_to_the_annotated_types(adc_env):
    received: list[Forecast] = []

    def plan_trip(forecast: Forecast) -> str:
        """Plan a trip from a forecast."""
        received.append(forecast)
        return "planned"

    with GreyCloudClient() as client:
        client.generate_content("plan trip Paris", tools=[plan_trip])
    assert isinstance(received[0], Forecast)


def test_a_failing_function_tells_the_model(adc_env):
    def broken(city: str) -> str:
        """Always fails."""
        raise RuntimeError("station offline")

    with GreyCloudClient() as client:
        response = client.generate_content("broken Paris", tools=[broken])
    assert 'returned {"error": "RuntimeError: station offline"}' in response.text


@pytest.mark.parametrize(
    ("tool", "wire"),
    [
        (types.Tool(google_search=types.GoogleSearch()), "googleSearch"),
        (types.Tool(url_context=types.UrlContext()), "urlContext"),
        (types.Tool(code_execution=types.ToolCodeExecution()), "codeExecution"),
    ],
    ids=["google-search", "url-context", "code-execution"],
)
async def test_built_in_tools_reach_the_wire(adc_env, tool, wire):
    async with GreyCloudAsyncClient() as client:
        response = await client.generate_content("Latest Gemini news", tools=[tool])
    assert body_of(adc_env)["tools"] == [{wire: {}}]
    candidate = response.candidates[0]
    if wire == "googleSearch":
        grounding = candidate.grounding_metadata
        assert grounding.web_search_queries == ["Latest Gemini news"]
        assert grounding.grounding_chunks[0].web.uri.startswith("https://example.com/")
    if wire == "codeExecution":
        parts = candidate.content.parts
        assert parts[0].executable_code.code and parts[1].code_execution_result.output == "42\n"
        assert response.text


def test_vertex_ai_search_from_the_config_is_grounded(adc_env):
    from greycloud import GreyCloudConfig
    from tests.helpers import DATASTORE

    config = GreyCloudConfig(use_vertex_ai_search=True, vertex_ai_search_datastore=DATASTORE)
    with GreyCloudClient(config) as client:
        response = client.generate_content("What do the docs say?")
    chunk = response.candidates[0].grounding_metadata.grounding_chunks[0]
    assert chunk.retrieved_context.uri.startswith(DATASTORE)


@pytest.mark.parametrize("client_kind", ["sync", "async"])
async def test_functions_declared_in_a_cache_are_called(emu, client_kind, get_weather, calls):
    from greycloud import GreyCloudAsyncCache, GreyCloudCache, GreyCloudConfig
    from tests.helpers import words

    flash = GreyCloudConfig(model="gemini-2.5-flash")
    contents = words(1200)
    if client_kind == "sync":
        caches = GreyCloudCache(flash)
        cache = caches.create_cache(contents, tools=[get_weather])
        response = caches.generate_with_cache(cache.name, QUESTION, tools=[get_weather])
        caches.close()
    else:
        async with GreyCloudAsyncCache(flash) as acaches:
            cache = await acaches.create_cache(contents, tools=[get_weather])
            response = await acaches.generate_with_cache(cache.name, QUESTION, tools=[get_weather])
            assert acaches.generator.rate_limiter.requests_in_window() == 4  # count, create, 2
    created = emu.state.requests_for("cachedContents.create")[0].body
    assert _declared(created) == ["get_weather"]
    assert [city for city, _ in calls] == ["Paris"]
    assert response.text.startswith('Function get_weather returned {"result": {"city": "Paris"')
    rounds = emu.state.requests_for("generateContent")
    assert len(rounds) == 2 and all("tools" not in r.body for r in rounds)
    assert all(r.body["cachedContent"] == cache.name for r in rounds)


def test_a_cache_request_refuses_tools_other_than_functions(emu):
    from greycloud import GreyCloudConfig

    with GreyCloudClient(GreyCloudConfig(model="gemini-2.5-flash")) as client:
        with pytest.raises(ValueError, match="Python functions may be passed as tools"):
            client.generate_content(
                "Hi",
                cached_content="projects/p/locations/us-central1/cachedContents/c",
                tools=[types.Tool(google_search=types.GoogleSearch())],
            )


def test_each_round_is_admitted_for_the_whole_conversation_it_sends():
    """A later round re-sends every earlier turn: its token estimate covers them all."""
    from greycloud import GreyCloudConfig
    from greycloud._function_calling import Rounds
    from greycloud._request import estimate_request_tokens, prepare_request

    def lookup(city: str) -> str:
        return "sunny"

    config = GreyCloudConfig(project_id="p", location="us-central1", model="gemini-2.5-flash")
    prepared = prepare_request(config, "Weather in Paris, Rome and Oslo?", tools=[lookup])
    rounds = Rounds(prepared)
    for city in ("Paris", "Rome", "Oslo"):
        call = types.Part.from_function_call(name="lookup", args={"city": city})
        turn = types.Content(role="model", parts=[call])
        response = types.GenerateContentResponse(candidates=[types.Candidate(content=turn)])
        assert rounds.function_calls(response)
        result = types.Part.from_function_response(name="lookup", response={"result": "sunny"})
        rounds.answer(response, [result])
        added = estimate_request_tokens(rounds.request.contents[1:])  # after the prompt
        assert rounds.request.estimated_tokens == prepared.estimated_tokens + added
