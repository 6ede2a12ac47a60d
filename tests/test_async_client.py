"""GreyCloudAsyncClient: parity with the sync client and rate limiting over real HTTP."""

from __future__ import annotations

import asyncio
import inspect
import time

import pytest

from greycloud import GreyCloudAsyncClient, GreyCloudClient, GreyCloudConfig
from greycloud.errors import APICallError, RequestTooLargeError, StreamInterruptedError
from greycloud.rate_limiter import VertexRateLimiter
from tests.helpers import (
    DATASTORE,
    FAST_RETRY,
    NO_HANG,
    PROMPTLY,
    loop_lags,
    statuses,
    until_held_back,
)

PUBLIC_METHODS = (
    "generate_content",
    "generate_content_stream",
    "generate_with_retry",
    "count_tokens",
    "embed_content",
    "reauthenticate",
    "ensure_client",
)


@pytest.fixture
async def aclient(adc_env):
    async with GreyCloudAsyncClient(retry_policy=FAST_RETRY) as client:
        yield client


def test_public_methods_have_identical_signatures():
    for name in PUBLIC_METHODS:
        sync_signature = inspect.signature(getattr(GreyCloudClient, name))
        async_signature = inspect.signature(getattr(GreyCloudAsyncClient, name))
        assert list(sync_signature.parameters.values()) == list(
            async_signature.parameters.values()
        ), name
    assert isinstance(GreyCloudAsyncClient.client, property)
    assert isinstance(GreyCloudClient.client, property)
    assert isinstance(GreyCloudAsyncClient.chats, property)
    assert isinstance(GreyCloudClient.chats, property)
    sync_create = inspect.signature(GreyCloudClient(GreyCloudConfig(project_id="p")).chats.create)
    async_create = inspect.signature(
        GreyCloudAsyncClient(GreyCloudConfig(project_id="p")).chats.create
    )
    assert list(sync_create.parameters.values()) == list(async_create.parameters.values())
    sync_public = {n for n in dir(GreyCloudClient) if not n.startswith("_")}
    async_public = {n for n in dir(GreyCloudAsyncClient) if not n.startswith("_")}
    # Closing is the one documented difference: close() vs aclose(), like google-genai.
    assert sync_public - {"close"} == async_public - {"aclose", "rate_limiter"}


def test_limits_come_from_arguments_then_config_then_defaults():
    config = GreyCloudConfig(project_id="p", rpm=7, tpm=700, max_concurrency=3)
    from_config = GreyCloudAsyncClient(config).rate_limiter
    assert (from_config.rpm, from_config.tpm, from_config.max_concurrency) == (7, 700, 3)
    explicit = GreyCloudAsyncClient(config, rpm=9, tpm=900, max_concurrency=4).rate_limiter
    assert (explicit.rpm, explicit.tpm, explicit.max_concurrency) == (9, 900, 4)
    default = GreyCloudAsyncClient(GreyCloudConfig(project_id="p")).rate_limiter
    assert (default.rpm, default.tpm, default.max_concurrency) == (60, 250_000, 10)


async def test_every_option_reaches_the_wire_exactly_as_from_the_sync_client(adc_env):
    config = GreyCloudConfig(
        use_vertex_ai_search=True,
        vertex_ai_search_datastore=DATASTORE,
        safety_settings=[{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
        thinking_level="medium",
        system_instruction="Answer in one line.",
        temperature=0.2,
    )
    options = {"top_p": 0.7, "max_output_tokens": 64, "seed": 3}
    GreyCloudClient(config).generate_content("Compare me", **options)
    async with GreyCloudAsyncClient(config) as client:
        await client.generate_content("Compare me", **options)
    sync_body, async_body = (r.body for r in adc_env.state.requests_for("generateContent"))
    assert sync_body == async_body
    assert sync_body["tools"] and sync_body["safetySettings"] and sync_body["systemInstruction"]

    cache = "projects/emulator-project/locations/us-central1/cachedContents/c1"
    # The emulator holds no such cache (404): only the request shape matters here.
    with pytest.raises(APICallError, match="404"):
        GreyCloudClient(config).generate_content("Q", cached_content=cache)
    async with GreyCloudAsyncClient(config) as client:
        with pytest.raises(APICallError, match="404"):
            await client.generate_content("Q", cached_content=cache)
    sync_cached, async_cached = (r.body for r in adc_env.state.requests_for("generateContent")[2:])
    assert sync_cached == async_cached
    assert sync_cached["cachedContent"] == cache and "tools" not in sync_cached


async def test_async_stream_text_is_identical_to_the_sync_stream(adc_env, aclient):
    prompt = "Tell me about rivers [[words=90]]"
    sync_chunks = list(GreyCloudClient().generate_content_stream(prompt))
    stream = aclient.generate_content_stream(prompt)
    async_chunks = [chunk async for chunk in stream]
    assert async_chunks == sync_chunks
    assert stream.finish_reason == "STOP" and stream.usage_metadata.total_token_count > 0
    assert aclient.rate_limiter.in_flight == 0


async def test_both_streaming_retry_forms_read_naturally(aclient):
    prompt = "Two forms [[words=30]]"
    expected = (await aclient.generate_content(prompt)).text
    direct = [c async for c in aclient.generate_with_retry(prompt, streaming=True)]
    awaited = [c async for c in await aclient.generate_with_retry(prompt, streaming=True)]
    assert "".join(direct) == "".join(awaited) == expected
    response = await aclient.generate_with_retry(prompt)
    assert response.text == expected


async def test_stream_retries_before_the_first_chunk(adc_env, aclient):
    prompt = "Retry me [[words=50]]"
    expected = (await aclient.generate_content(prompt)).text
    adc_env.state.add_fault(503, action="streamGenerateContent")
    adc_env.state.add_fault(action="streamGenerateContent", drop_connection=True)
    text = "".join([c async for c in aclient.generate_with_retry(prompt, streaming=True)])
    assert text == expected
    assert len(adc_env.state.requests_for("streamGenerateContent")) == 3
    assert aclient.rate_limiter.in_flight == 0


async def test_stream_cut_after_text_is_not_repeated(adc_env, aclient):
    prompt = "Cut me [[words=150]]"
    expected = (await aclient.generate_content(prompt)).text
    adc_env.state.add_fault(action="streamGenerateContent", cut_after_chunks=2)
    received: list[str] = []
    with pytest.raises(StreamInterruptedError) as error:
        async for chunk in aclient.generate_with_retry(prompt, streaming=True):
            received.append(chunk)
    assert error.value.partial_text == "".join(received)
    assert len(received) == 2 and expected.startswith(error.value.partial_text)
    assert len(adc_env.state.requests_for("streamGenerateContent")) == 1
    assert aclient.rate_limiter.in_flight == 0


async def test_tokens_are_charged_then_corrected_by_reported_usage(adc_env, aclient):
    response = await aclient.generate_content("Usage please [[words=20]]")
    # tpm counts input tokens (the default tpm_counts), as Vertex AI's quota does
    assert aclient.rate_limiter.tokens_in_window() == response.usage_metadata.prompt_token_count


async def test_too_large_request_fails_at_once_and_sends_nothing(adc_env):
    async with GreyCloudAsyncClient(tpm=100, retry_policy=FAST_RETRY) as client:
        with pytest.raises(RequestTooLargeError, match="can never be sent"):
            await client.generate_with_retry("word " * 500)
        assert client.rate_limiter.requests_in_window() == 0
    assert adc_env.state.requests_for("generateContent") == []


@pytest.mark.parametrize(
    "fault",
    [{"retry_after": 0.8}, {"quota": "per_minute", "retry_delay": 0.8}],
    ids=["retry-after-header", "google-retry-info-body"],
)
async def test_429_slows_every_caller_sharing_the_limiter(adc_env, aclient, fault):
    adc_env.state.add_fault(429, **fault)
    first = asyncio.create_task(aclient.generate_with_retry("first"))
    await until_held_back(aclient.rate_limiter, first)  # the 429 arrived; slow-down on
    await aclient.generate_with_retry("second")
    await first
    log = adc_env.state.requests_for("generateContent")
    assert [r.status for r in log] == [429, 200, 200]
    rejected = log[0]
    # Neither caller sent anything before the delay the 429 asked for had passed.
    assert min(r.time for r in log[1:]) - rejected.end_time >= 0.75


async def test_cancelling_a_stream_releases_its_slot_and_the_connection(adc_env, aclient):
    adc_env.state.configure(stream_chunk_delay=0.05)
    # about 400 chunks 50 ms apart: left alone it would end ~20 s later
    stream = aclient.generate_content_stream("Slow [[words=3000]]")

    first_chunk = asyncio.Event()

    async def consume() -> None:
        async for _ in stream:
            first_chunk.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first_chunk.wait(), NO_HANG)
    assert aclient.rate_limiter.in_flight == 1
    cancelled_at = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert aclient.rate_limiter.in_flight == 0
    for _ in range(int(NO_HANG / 0.02)):
        entry = adc_env.state.requests_for("streamGenerateContent")[0]
        if entry.end_time is not None:
            break
        await asyncio.sleep(0.02)
    assert entry.end_time is not None
    assert entry.end_time - cancelled_at < PROMPTLY  # closed at once, not at its natural end


async def test_many_concurrent_callers_stay_within_the_servers_quota(adc_env):
    adc_env.state.set_quota(rpm=10, window_seconds=1.5)
    limiter = VertexRateLimiter(rpm=10, tpm=10**6, max_concurrency=8, period=1.5)
    async with GreyCloudAsyncClient(rate_limiter=limiter, retry_policy=FAST_RETRY) as client:
        results = await asyncio.gather(
            *(client.generate_with_retry(f"caller {i}") for i in range(30))
        )
    assert all(r.text for r in results)
    assert 429 not in statuses(adc_env, "generateContent")
    assert len(adc_env.state.requests_for("generateContent")) == 30


async def test_count_tokens_is_rate_limited_and_exact(adc_env, aclient):
    from greycloud.emulator import count_tokens

    text = "Count these async tokens."
    assert await aclient.count_tokens(text) == count_tokens(text)
    assert aclient.rate_limiter.requests_in_window() == 1


async def test_401_refresh_happens_off_the_event_loop(adc_env, aclient):
    await aclient.generate_content("warm up")
    adc_env.state.expire_all_tokens()
    adc_env.state.add_fault(None, action="token", delay=1.5)  # a slow token endpoint
    async with loop_lags() as lags:
        assert (await aclient.generate_with_retry("after expiry")).text
    assert statuses(adc_env, "generateContent") == [200, 401, 200]
    # A refresh on the loop would stall it for the whole 1.5 s; a busy machine adds
    # scheduling lag well under 1 s.
    assert max(lags) < 1.0


async def test_gcloud_fallback_does_not_block_the_loop(emulator, fake_gcloud):
    fake_gcloud.set_access_token(emulator.state.issue_token("gcloud-user"))
    fake_gcloud.hang(2.0)
    config = GreyCloudConfig(project_id="emulator-project", endpoint=emulator.url)
    async with loop_lags() as lags, GreyCloudAsyncClient(config) as client:
        assert (await client.generate_content("Hi")).text
    # gcloud on the loop would stall it for 2 s; a busy machine adds well under 1 s
    assert len(lags) > 20 and max(lags) < 1.0
