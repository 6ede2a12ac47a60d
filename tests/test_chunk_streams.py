"""Streams of whole responses (``return_chunks=True``) on both clients and the caches."""

from __future__ import annotations

import pytest
from google.genai import types

from greycloud import GreyCloudAsyncClient, GreyCloudCache, GreyCloudClient, GreyCloudConfig
from greycloud.errors import StreamInterruptedError
from tests.helpers import FAST_RETRY, words

QUESTION = "What is the weather in Paris?"


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def test_chunks_are_whole_responses_with_the_same_text(adc_env):
    prompt = "Tell me about rivers [[words=60]]"
    safety = [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}]
    with GreyCloudClient() as client:
        full = client.generate_content(prompt)
        stream = client.generate_content_stream(prompt, return_chunks=True, safety_settings=safety)
        chunks = list(stream)
    [rating] = chunks[-1].candidates[0].safety_ratings
    assert rating.category == types.HarmCategory.HARM_CATEGORY_HARASSMENT
    assert len(chunks) > 3 and all(isinstance(c, types.GenerateContentResponse) for c in chunks)
    assert "".join(c.text for c in chunks) == full.text == stream.text
    assert chunks[-1].usage_metadata.total_token_count == full.usage_metadata.total_token_count
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert stream.finish_reason == "STOP"


async def test_function_calls_and_grounding_arrive_in_chunks(adc_env):
    search = types.Tool(google_search=types.GoogleSearch())
    async with GreyCloudAsyncClient() as client:
        stream = client.generate_content_stream(QUESTION, tools=[get_weather], return_chunks=True)
        chunks = [c async for c in stream]
        [call] = chunks[0].function_calls  # the first round: the model's call, run by us
        assert call.name == "get_weather" and call.args == {"city": "Paris"}
        answer = "".join(c.text or "" for c in chunks[1:])  # the second round: the answer
        assert answer.startswith('Function get_weather returned {"result": "sunny in Paris"}.')
        assert client.rate_limiter.requests_in_window() == 2
        assert client.rate_limiter.in_flight == 0
        history = stream.automatic_function_calling_history
        assert [c.role for c in history] == ["user", "model", "user"]

        grounded = [
            c
            async for c in client.generate_with_retry(
                "Latest news [[words=30]]", streaming=True, return_chunks=True, tools=[search]
            )
        ]
    metadata = grounded[-1].candidates[0].grounding_metadata
    assert metadata.grounding_chunks[0].web.uri.startswith("https://example.com/")
    assert len(adc_env.state.requests_for("streamGenerateContent")) == 3


def test_sync_text_stream_runs_functions_between_rounds(adc_env):
    with GreyCloudClient() as client:
        stream = client.generate_with_retry(QUESTION, streaming=True, tools=[get_weather])
        text = "".join(stream)
        manual = list(
            client.generate_content_stream(
                QUESTION,
                return_chunks=True,
                tools=[get_weather],
                automatic_function_calling={"disable": True},
            )
        )
    assert text.startswith('Function get_weather returned {"result": "sunny in Paris"}.')
    assert text == stream.text
    assert manual[0].function_calls[0].args == {"city": "Paris"}  # manual: not run
    assert len(adc_env.state.requests_for("streamGenerateContent")) == 3


async def test_a_round_of_a_stream_is_retried_before_its_first_chunk(adc_env):
    def get_weather(city: str) -> str:
        """Weather; the next round's stream fails once before any chunk."""
        adc_env.state.add_fault(503, action="streamGenerateContent")
        return "hail"

    async with GreyCloudAsyncClient(retry_policy=FAST_RETRY) as client:
        stream = client.generate_with_retry(QUESTION, streaming=True, tools=[get_weather])
        text = "".join([t async for t in stream])
    assert text.startswith('Function get_weather returned {"result": "hail"}.')
    statuses = [r.status for r in adc_env.state.requests_for("streamGenerateContent")]
    assert statuses == [200, 503, 200]


@pytest.mark.parametrize("client_kind", ["sync", "async"])
@pytest.mark.parametrize(
    "fault",
    [{}, {"stream_error_after_chunks": 0}],
    ids=["503-status", "error-inside-the-200-stream"],
)
async def test_a_stream_is_retried_only_before_its_first_chunk(adc_env, client_kind, fault):
    prompt = "Retry me [[words=50]]"
    adc_env.state.add_fault(503, action="streamGenerateContent", **fault)
    if client_kind == "sync":
        with GreyCloudClient(retry_policy=FAST_RETRY) as client:
            expected = client.generate_content(prompt).text
            chunks = list(client.generate_with_retry(prompt, streaming=True, return_chunks=True))
    else:
        async with GreyCloudAsyncClient(retry_policy=FAST_RETRY) as client:
            expected = (await client.generate_content(prompt)).text
            stream = client.generate_with_retry(prompt, streaming=True, return_chunks=True)
            chunks = [c async for c in stream]
    assert "".join(c.text for c in chunks) == expected  # nothing twice
    assert len(adc_env.state.requests_for("streamGenerateContent")) == 2


@pytest.mark.parametrize("client_kind", ["sync", "async"])
async def test_a_break_after_a_chunk_is_not_retried_and_repeats_nothing(adc_env, client_kind):
    prompt = "Cut me [[words=150]]"
    adc_env.state.add_fault(action="streamGenerateContent", cut_after_chunks=2)
    received: list[types.GenerateContentResponse] = []
    with pytest.raises(StreamInterruptedError) as error:
        if client_kind == "sync":
            with GreyCloudClient(retry_policy=FAST_RETRY) as client:
                for chunk in client.generate_with_retry(
                    prompt, 3, streaming=True, return_chunks=True
                ):
                    received.append(chunk)
        else:
            async with GreyCloudAsyncClient(retry_policy=FAST_RETRY) as aclient:
                async for chunk in aclient.generate_with_retry(
                    prompt, 3, streaming=True, return_chunks=True
                ):
                    received.append(chunk)
    assert len(received) == 2
    assert error.value.partial_text == "".join(c.text for c in received)
    assert len(adc_env.state.requests_for("streamGenerateContent")) == 1


def test_cache_streams_return_chunks_too(emu):
    caches = GreyCloudCache(GreyCloudConfig(model="gemini-2.5-flash"))
    cache = caches.create_cache_from_text(words(1200), display_name="chunks")
    chunks = list(caches.generate_with_cache_stream(cache.name, "Summarize", return_chunks=True))
    usage = chunks[-1].usage_metadata
    assert usage.cached_content_token_count == cache.usage_metadata.total_token_count
    caches.close()
