"""Chats on both clients: history across turns, function calls, streams, caches.

Every turn is a request the emulator logs (and, on the async client, an
admission of the rate limiter); the history a turn sends is read back from
the request body.
"""

from __future__ import annotations

import inspect

import pytest
from google.genai import types

from greycloud import GreyCloudAsyncClient, GreyCloudCache, GreyCloudClient, GreyCloudConfig
from greycloud.async_chats import AsyncChat, AsyncChats
from greycloud.chats import Chat, Chats
from greycloud.errors import StreamInterruptedError
from tests.helpers import FAST_RETRY, body_of, statuses, words


def get_weather(city: str) -> dict:
    """The weather forecast for a city."""
    return {"city": city, "sky": "clear"}


def _roles_and_kinds(contents: list[dict]) -> list[tuple[str, str]]:
    kinds = []
    for content in contents:
        part = content["parts"][0]
        kind = next(k for k in ("text", "functionCall", "functionResponse") if k in part)
        kinds.append((content["role"], kind))
    return kinds


def _turns(history: list[types.Content]) -> list[tuple[str, str]]:
    kinds = []
    for content in history:
        part = content.parts[0]
        kind = (
            "functionCall"
            if part.function_call
            else "functionResponse"
            if (part.function_response)
            else "text"
        )
        kinds.append((content.role, kind))
    return kinds


def test_chat_classes_have_identical_signatures():
    for sync_cls, async_cls in ((Chats, AsyncChats), (Chat, AsyncChat)):
        public = {n for n in dir(sync_cls) if not n.startswith("_")}
        assert public == {n for n in dir(async_cls) if not n.startswith("_")}
        for name in public:
            sync_params = inspect.signature(getattr(sync_cls, name)).parameters
            async_params = inspect.signature(getattr(async_cls, name)).parameters
            assert list(sync_params.values()) == list(async_params.values()), name
    assert inspect.iscoroutinefunction(AsyncChat.send_message)


def test_sync_chat_keeps_history_across_turns(adc_env):
    with GreyCloudClient(retry_policy=FAST_RETRY) as client:
        chat = client.chats.create(temperature=0.2)
        first = chat.send_message("My name is Ada.")
        adc_env.state.add_fault(503, action="generateContent")  # the second turn is retried
        second = chat.send_message("What is my name?")
    assert first.text.startswith("Echo: My name is Ada.")
    sent = body_of(adc_env)
    assert [c["role"] for c in sent["contents"]] == ["user", "model", "user"]
    assert sent["contents"][1]["parts"][0]["text"] == first.text
    assert sent["generationConfig"]["temperature"] == 0.2
    assert statuses(adc_env, "generateContent") == [200, 503, 200]
    history = chat.get_history()
    assert [c.role for c in history] == ["user", "model", "user", "model"]
    assert history[-1].parts[0].text == second.text


async def test_async_chat_with_function_calls_in_history(adc_env):
    async with GreyCloudAsyncClient(retry_policy=FAST_RETRY) as client:
        chat = client.chats.create(tools=[get_weather])
        answer = await chat.send_message("What is the weather in Paris?")
        assert client.rate_limiter.requests_in_window() == 2  # the call round and the answer
        await chat.send_message("Thanks!")  # nothing to look up: a plain answer
        assert client.rate_limiter.requests_in_window() == 3
    assert answer.text.startswith('Function get_weather returned {"result": {"city": "Paris"')
    expected = [
        ("user", "text"),
        ("model", "functionCall"),
        ("user", "functionResponse"),
        ("model", "text"),
        ("user", "text"),
    ]
    # the third request (the second message) carries the whole first turn
    third = adc_env.state.requests_for("generateContent")[2].body
    assert _roles_and_kinds(third["contents"]) == expected
    assert _turns(chat.get_history()) == [*expected, ("model", "text")]


def test_chat_history_and_config_at_creation(adc_env):
    earlier = [
        types.Content(role="user", parts=[types.Part.from_text(text="Hi, I am Bob.")]),
        types.Content(role="model", parts=[types.Part.from_text(text="Hello Bob.")]),
    ]
    config = types.GenerateContentConfig(system_instruction="Be terse.", stop_sequences=["X"])
    with GreyCloudClient() as client:
        chat = client.chats.create(model="gemini-2.5-pro", config=config, history=earlier)
        chat.send_message("And now?", config={"top_k": 4}, max_output_tokens=30)
    request = adc_env.state.requests_for("generateContent")[-1]
    assert request.model == "gemini-2.5-pro"
    assert [c["parts"][0]["text"] for c in request.body["contents"]] == [
        "Hi, I am Bob.",
        "Hello Bob.",
        "And now?",
    ]
    generation = request.body["generationConfig"]
    assert (generation["stopSequences"], generation["topK"], generation["maxOutputTokens"]) == (
        ["X"],
        4,
        30,
    )
    assert request.body["systemInstruction"]["parts"][0]["text"] == "Be terse."
    assert len(chat.get_history()) == 4


def test_a_message_is_text_or_parts_not_a_turn(adc_env):
    turn = types.Content(role="user", parts=[types.Part.from_text(text="Hi")])
    with GreyCloudClient() as client:
        chat = client.chats.create()
        for message in (turn, [turn], {"role": "user", "parts": [{"text": "Hi"}]}):
            with pytest.raises(TypeError, match="send text or parts"):
                chat.send_message(message)
        chat.send_message(["Two parts,", types.Part.from_text(text="one turn.")])
    assert [len(c["parts"]) for c in body_of(adc_env)["contents"]] == [2]


def test_unknown_chat_option_is_refused(adc_env):
    with GreyCloudClient() as client, pytest.raises(TypeError, match="unknown option 'temp'"):
        client.chats.create(temp=0.1)
    with GreyCloudClient() as client:
        with pytest.raises(ValueError, match="'user' or 'model'"):
            client.chats.create(history=[{"role": "tool", "parts": [{"text": "x"}]}])


def test_streamed_turns_join_the_history(adc_env):
    with GreyCloudClient() as client:
        chat = client.chats.create()
        stream = chat.send_message_stream("Tell me a story [[words=40]]")
        chunks = list(stream)
        chat.send_message("Shorter please")
    assert len(chunks) > 2 and all(isinstance(c, types.GenerateContentResponse) for c in chunks)
    history = chat.get_history()
    assert [c.role for c in history] == ["user", "model", "user", "model"]
    assert history[1].parts[0].text == stream.text  # the chunks' text, joined into one part
    sent = body_of(adc_env)["contents"]
    assert sent[1]["parts"] == [{"text": stream.text}]


async def test_a_broken_stream_leaves_the_history_unchanged(adc_env):
    adc_env.state.add_fault(action="streamGenerateContent", cut_after_chunks=1)
    async with GreyCloudAsyncClient(retry_policy=FAST_RETRY) as client:
        chat = client.chats.create()
        with pytest.raises(StreamInterruptedError):
            async for _ in chat.send_message_stream("Long one [[words=200]]"):
                pass
        assert chat.get_history() == []
        async for _ in chat.send_message_stream("Again [[words=20]]"):
            pass
        assert client.rate_limiter.in_flight == 0
    assert [c.role for c in chat.get_history()] == ["user", "model"]


async def test_a_streamed_turn_runs_functions_and_keeps_the_rounds(adc_env):
    async with GreyCloudAsyncClient() as client:
        chat = client.chats.create(tools=[get_weather])
        chunks = [c async for c in chat.send_message_stream("Weather in Oslo?")]
        assert client.rate_limiter.requests_in_window() == 2
    assert chunks[0].function_calls[0].args == {"city": "Oslo"}
    assert _turns(chat.get_history()) == [
        ("user", "text"),
        ("model", "functionCall"),
        ("user", "functionResponse"),
        ("model", "text"),
    ]
    assert (
        chat.get_history()[-1]
        .parts[0]
        .text.startswith(
            'Function get_weather returned {"result": {"city": "Oslo", "sky": "clear"}}.'
        )
    )


async def test_a_manual_streamed_function_call_is_answered_next_message(adc_env):
    async with GreyCloudAsyncClient() as client:
        chat = client.chats.create(
            tools=[get_weather], automatic_function_calling={"disable": True}
        )
        chunks = [c async for c in chat.send_message_stream("Weather in Oslo?")]
        [call] = chunks[0].function_calls
        reply = types.Part.from_function_response(name=call.name, response={"result": "snow"})
        answer = await chat.send_message(reply)
    assert answer.text.startswith('Function get_weather returned {"result": "snow"}.')
    assert _turns(chat.get_history()) == [
        ("user", "text"),
        ("model", "functionCall"),
        ("user", "functionResponse"),
        ("model", "text"),
    ]


@pytest.mark.parametrize("client_kind", ["sync", "async"])
async def test_a_chat_starts_from_a_context_cache(emu, client_kind):
    flash = GreyCloudConfig(model="gemini-2.5-flash")
    caches = GreyCloudCache(flash)
    cache = caches.create_cache_from_text(words(1200), display_name="chat")
    cached = cache.usage_metadata.total_token_count
    if client_kind == "sync":
        with GreyCloudClient(flash) as client:
            chat = client.chats.create(cached_content=cache.name)
            first = chat.send_message("Summarize")
            second = chat.send_message("More detail")
    else:
        async with GreyCloudAsyncClient(flash) as aclient:
            achat = aclient.chats.create(cached_content=cache.name)
            first = await achat.send_message("Summarize")
            second = await achat.send_message("More detail")
    assert first.usage_metadata.cached_content_token_count == cached
    assert second.usage_metadata.cached_content_token_count == cached
    body = body_of(emu)
    assert body["cachedContent"] == cache.name and len(body["contents"]) == 3
    caches.delete_cache(cache)
    caches.close()
