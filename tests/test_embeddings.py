"""embed_content on both clients against the emulator over real HTTP: order, batching to
Vertex AI's per-request limits, dimensionality, rate limiting, retries, token counts."""

from __future__ import annotations

import asyncio
import math
import time

import pytest
import requests
from google.genai import errors as genai_errors
from google.genai import types

from greycloud import GreyCloudAsyncClient, GreyCloudClient, GreyCloudConfig
from greycloud.embeddings import plan_batches
from greycloud.emulator import count_tokens as emulator_count
from greycloud.emulator.embeddings import embedding_vector
from greycloud.errors import APICallError, RetriesExhaustedError
from greycloud.rate_limiter import VertexRateLimiter
from greycloud.rules import (
    GEMINI_EMBEDDING_LIMITS,
    PREDICT_EMBEDDING_LIMITS,
    EmbeddingLimits,
    embedding_limits,
)
from tests.helpers import FAST_RETRY, NO_HANG, statuses

TEXT_MODEL = "text-embedding-005"
GEMINI_MODEL = "gemini-embedding-001"


def embed(kind: str, contents, **options) -> types.EmbedContentResponse:
    """``embed_content`` through the sync or the async client (a fresh one)."""
    if kind == "sync":
        with GreyCloudClient(retry_policy=FAST_RETRY) as client:
            return client.embed_content(contents, **options)

    async def run() -> types.EmbedContentResponse:
        async with GreyCloudAsyncClient(retry_policy=FAST_RETRY) as client:
            return await client.embed_content(contents, **options)

    return asyncio.run(run())


both = pytest.mark.parametrize("kind", ["sync", "async"])


def predicts(emulator) -> list[list[str]]:
    """The texts of every successful ``:predict`` request, in arrival order."""
    return [
        [i["content"] for i in r.body["instances"]]
        for r in emulator.state.requests_for("predict")
        if r.status == 200
    ]


# -- the rule ------------------------------------------------------------------


def test_limits_follow_the_models_api():
    assert embedding_limits("text-embedding-005") == PREDICT_EMBEDDING_LIMITS
    assert embedding_limits("publishers/google/models/text-multilingual-embedding-002") == (
        PREDICT_EMBEDDING_LIMITS
    )
    assert (PREDICT_EMBEDDING_LIMITS.max_inputs, PREDICT_EMBEDDING_LIMITS.max_tokens) == (
        250,
        20_000,
    )
    assert embedding_limits("gemini-embedding-001") == GEMINI_EMBEDDING_LIMITS
    assert embedding_limits("gemini-embedding-2").max_inputs == 1


def test_plan_batches_by_count_and_tokens():
    limits = EmbeddingLimits(max_inputs=3, max_tokens=10, max_input_tokens=100)
    assert plan_batches([1] * 7, limits) == [range(0, 3), range(3, 6), range(6, 7)]
    assert plan_batches([4, 4, 4, 30, 1], limits) == [
        range(0, 2),
        range(2, 3),
        range(3, 4),  # alone over the limit: sent alone, the API truncates it
        range(4, 5),
    ]
    assert plan_batches([], limits) == []


# -- order, batching, dimensionality ---------------------------------------------


@both
def test_embeddings_come_back_in_input_order_across_batches(adc_env, kind):
    texts = [f"document {i} about vector river number {i * 7}" for i in range(600)]
    response = embed(kind, texts, model=TEXT_MODEL, output_dimensionality=12)
    assert len(response.embeddings) == 600
    for text, embedding in zip(texts, response.embeddings, strict=True):
        assert embedding.values == embedding_vector(TEXT_MODEL, text, 12)
    sent = predicts(adc_env)
    assert sorted(len(batch) for batch in sent) == [100, 250, 250]
    # Each request carries consecutive inputs, and together they are every input once.
    assert sorted(text for batch in sent for text in batch) == sorted(texts)
    for batch in sent:
        start = texts.index(batch[0])
        assert batch == texts[start : start + len(batch)]
    body = adc_env.state.requests_for("predict")[0].body
    assert body["parameters"] == {"outputDimensionality": 12}
    assert response.metadata.billable_character_count == sum(len(t.replace(" ", "")) for t in texts)


@both
def test_batches_respect_the_token_limit(adc_env, kind):
    # 4,000 characters: an estimate of 1,000 tokens each, so 20 fit in 20,000.
    texts = [("river " * 666 + f"n{i:03d}")[:4000] for i in range(30)]
    response = embed(kind, texts, model=TEXT_MODEL, output_dimensionality=4)
    assert len(response.embeddings) == 30
    assert sorted(len(batch) for batch in predicts(adc_env)) == [10, 20]


@both
def test_a_batch_the_api_finds_too_large_is_split(adc_env, kind):
    # "a a a ..." counts two characters per token on the emulator (the estimate
    # says four): ten inputs fit the estimate but are 20,480 tokens to the API.
    texts = [("a " * 4000)[: 8000 - 4] + f" {i:03d}" for i in range(10)]
    response = embed(kind, texts, model=TEXT_MODEL, output_dimensionality=4)
    assert len(response.embeddings) == 10
    assert all(e.statistics.truncated for e in response.embeddings)
    assert statuses(adc_env, "predict")[0] == 400
    assert sorted(len(b) for b in predicts(adc_env)) == [5, 5]
    refused = adc_env.state.requests_for("predict")[0]
    assert len(refused.body["instances"]) == 10


@both
def test_gemini_embedding_sends_one_input_per_request(adc_env, kind):
    texts = ["first text", "second text", "third text"]
    response = embed(kind, texts, task_type="RETRIEVAL_QUERY", output_dimensionality=32)
    assert [len(e.values) for e in response.embeddings] == [32, 32, 32]
    for text, embedding in zip(texts, response.embeddings, strict=True):
        assert embedding.values == embedding_vector(GEMINI_MODEL, text, 32)
        assert math.isclose(math.fsum(v * v for v in embedding.values), 1.0, rel_tol=1e-5)
    calls = adc_env.state.requests_for("embedContent")
    assert len(calls) == 3 and all(GEMINI_MODEL in c.path for c in calls)
    assert sorted(c.body["content"]["parts"][0]["text"] for c in calls) == sorted(texts)
    assert calls[0].body["embedContentConfig"] == {
        "taskType": "RETRIEVAL_QUERY",
        "outputDimensionality": 32,
    }
    assert response.usage_metadata.prompt_token_count == sum(emulator_count(t) for t in texts)


def test_default_model_comes_from_the_config_and_environment(adc_env, monkeypatch):
    assert GreyCloudConfig().embedding_model == GEMINI_MODEL
    monkeypatch.setenv("GREYCLOUD_EMBEDDING_MODEL", TEXT_MODEL)
    response = embed("sync", "one text")
    assert len(response.embeddings[0].values) == 768
    assert len(adc_env.state.requests_for("predict")) == 1
    assert GreyCloudConfig(embedding_model="text-embedding-004").embedding_model == (
        "text-embedding-004"
    )


@both
def test_sdk_options_are_validated_by_google_genai(adc_env, kind):
    embed(kind, ["a title test"], model=TEXT_MODEL, title="Doc", auto_truncate=False)
    body = adc_env.state.requests_for("predict")[-1].body
    assert body["instances"][0]["title"] == "Doc"
    assert body["parameters"]["autoTruncate"] is False
    with pytest.raises(TypeError, match=r"unknown option 'colour'.*title"):
        embed(kind, ["x"], colour="blue")
    with pytest.raises(ValueError, match="auto_truncate"):
        embed(kind, ["x"], auto_truncate="sometimes")
    with pytest.raises(ValueError, match="output_dimensionality"):
        embed(kind, ["x"], output_dimensionality=0)
    with pytest.raises(ValueError, match=r"contents\[1\] is empty"):
        embed(kind, ["x", "  "])
    image = types.Part.from_bytes(data=b"\x89PNG", mime_type="image/png")
    with pytest.raises(ValueError, match="embeds text only"):
        embed(kind, ["x", image], model=TEXT_MODEL)
    assert len(adc_env.state.requests_for("predict")) == 1  # nothing else was sent


@both
def test_api_refusal_keeps_googles_code_status_and_message(adc_env, kind):
    with pytest.raises(APICallError) as info:
        embed(kind, ["too wide"], model=TEXT_MODEL, output_dimensionality=769)
    error = info.value
    assert (error.code, error.status) == (400, "INVALID_ARGUMENT")
    assert error.message == (
        "outputDimensionality must be between 1 and 768 for text-embedding-005, got 769."
    )
    assert isinstance(error.__cause__, genai_errors.APIError)
    assert len(adc_env.state.requests_for("predict")) == 1  # a 400 is not retried


# -- retries and rate limiting ------------------------------------------------------


@both
def test_a_429_with_googles_body_is_retried(adc_env, kind):
    adc_env.state.add_fault(429, action="predict", quota="per_minute", retry_delay=0.05)
    response = embed(kind, ["retry me", "and me"], model=TEXT_MODEL, output_dimensionality=4)
    assert len(response.embeddings) == 2
    assert statuses(adc_env, "predict") == [429, 200]
    assert adc_env.state.requests_for("predict")[1].body == (
        adc_env.state.requests_for("predict")[0].body
    )


def test_async_batches_are_rate_limited_and_charged_their_tokens(adc_env):
    texts = [f"limited text number {i}" for i in range(3)]

    async def run() -> tuple[types.EmbedContentResponse, float]:
        limiter = VertexRateLimiter(rpm=2, tpm=100_000, max_concurrency=5, period=1.0)
        async with GreyCloudAsyncClient(rate_limiter=limiter) as client:
            started = time.monotonic()
            response = await client.embed_content(texts, model=GEMINI_MODEL)
            return response, time.monotonic() - started

    response, elapsed = asyncio.run(asyncio.wait_for(run(), NO_HANG))
    assert len(response.embeddings) == 3
    calls = adc_env.state.requests_for("embedContent")
    times = sorted(c.time for c in calls)
    # rpm=2 per 1 s window: the third request waits for the window to move on.
    assert times[2] - times[0] >= 0.9 and elapsed >= 0.9


def test_async_charges_what_the_api_reports(adc_env):
    texts = [f"counted text {i}" for i in range(5)]

    async def run() -> VertexRateLimiter:
        limiter = VertexRateLimiter(rpm=100, tpm=100_000, max_concurrency=5)
        async with GreyCloudAsyncClient(rate_limiter=limiter) as client:
            await client.embed_content(texts, model=TEXT_MODEL, output_dimensionality=4)
            await client.embed_content(texts[:1], model=GEMINI_MODEL, output_dimensionality=4)
        return limiter

    limiter = asyncio.run(run())
    assert limiter.requests_in_window() == 2
    assert limiter.tokens_in_window() == sum(emulator_count(t) for t in texts) + emulator_count(
        texts[0]
    )


def test_emulator_counts_embeddings_against_the_quota(adc_env):
    adc_env.state.set_quota(rpm=1)
    with pytest.raises(RetriesExhaustedError) as info:
        with GreyCloudClient() as client:
            client.embed_content(["one", "two"], max_retries=0)
    assert info.value.code == 429 and info.value.status == "RESOURCE_EXHAUSTED"
    assert statuses(adc_env, "embedContent") == [200, 429]


# -- token counting ---------------------------------------------------------------


@both
def test_count_tokens_for_embedding_inputs(adc_env, kind):
    texts = ["how many tokens", "in these two inputs?"]
    if kind == "sync":
        with GreyCloudClient() as client:
            counted = client.count_tokens(texts, model=TEXT_MODEL)
    else:

        async def run() -> int:
            async with GreyCloudAsyncClient() as client:
                return await client.count_tokens(texts, model=TEXT_MODEL)

        counted = asyncio.run(run())
    assert counted == emulator_count("\n".join(texts))
    assert TEXT_MODEL in adc_env.state.requests_for("countTokens")[0].path


def test_async_batches_fit_the_limiters_tokens_per_minute(adc_env):
    texts = [("river " * 666 + f"n{i:03d}")[:4000] for i in range(12)]  # 1,000 tokens each

    async def run() -> types.EmbedContentResponse:
        limiter = VertexRateLimiter(rpm=100, tpm=3_000, max_concurrency=5, period=0.5)
        async with GreyCloudAsyncClient(rate_limiter=limiter) as client:
            return await client.embed_content(texts, model=TEXT_MODEL, output_dimensionality=4)

    response = asyncio.run(asyncio.wait_for(run(), NO_HANG))
    assert len(response.embeddings) == 12
    assert sorted(len(batch) for batch in predicts(adc_env)) == [3, 3, 3, 3]


# -- the emulator's limits, as google-genai itself sends requests ---------------------


def test_emulator_refuses_too_many_instances_like_google(adc_env):
    with GreyCloudClient() as client:
        raw = client.client  # the SDK alone: no batching
        with pytest.raises(genai_errors.ClientError) as info:
            raw.models.embed_content(model=TEXT_MODEL, contents=[f"t{i}" for i in range(251)])
        assert info.value.code == 400 and info.value.status == "INVALID_ARGUMENT"
        assert "too many instances" in info.value.message
        assert "at most 250" in info.value.message
        with pytest.raises(genai_errors.ClientError) as info:
            raw.models.embed_content(model=GEMINI_MODEL, contents=["one", "two"])
        assert "at most 1 instance(s)" in info.value.message
        assert adc_env.state.requests_for("batchEmbedContents")[0].status == 400
        with pytest.raises(genai_errors.ClientError) as info:
            raw.models.embed_content(
                model=TEXT_MODEL,
                contents=["word " * 2100],
                config=types.EmbedContentConfig(auto_truncate=False),
            )
        assert "autoTruncate is false" in info.value.message
        with pytest.raises(genai_errors.ClientError) as info:
            raw.models.embed_content(
                model=TEXT_MODEL,
                contents=["x"],
                config=types.EmbedContentConfig(task_type="SUMMARIZATION"),
            )
        assert "Invalid task_type 'SUMMARIZATION'" in info.value.message
        with pytest.raises(genai_errors.ClientError) as info:
            raw.models.embed_content(model="gemini-2.5-flash", contents=["x"])
        assert "use an embedding model" in info.value.message


def test_emulator_answers_embed_content_and_batch_embed_contents(adc_env):
    with GreyCloudClient() as client:
        response = client.client.models.embed_content(
            model=GEMINI_MODEL, contents=[types.Content(parts=[types.Part(text="single")])]
        )
    assert response.embeddings[0].values == embedding_vector(GEMINI_MODEL, "single", 3072)
    # batchEmbedContents as the REST API takes it (google-genai sends it for 2+ inputs).
    url = (
        f"{adc_env.url}v1/projects/emulator-project/locations/us-central1/publishers/google/"
        f"models/{GEMINI_MODEL}:batchEmbedContents"
    )
    body = {
        "requests": [
            {
                "content": {"parts": [{"text": "single"}]},
                "embedContentConfig": {"outputDimensionality": 8},
            }
        ]
    }
    token = adc_env.state.issue_token()
    answer = requests.post(url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json()["embeddings"] == [{"values": embedding_vector(GEMINI_MODEL, "single", 8)}]
    assert answer.json()["usageMetadata"]["promptTokenCount"] == 1


def test_async_batches_fit_a_quota_lanes_share(adc_env):
    """A client on a `LaneLimiter` embeds too, its batches sized by the lane's tokens."""
    from greycloud.quota_lane import LaneLimiter, lane_of

    texts = [("river " * 666 + f"n{i:03d}")[:4000] for i in range(2)]  # 1,000 tokens each

    async def run() -> types.EmbedContentResponse:
        quota = VertexRateLimiter(rpm=100, tpm=8_000, max_concurrency=8)
        config = GreyCloudConfig(project_id="p", location="l", model="m-embed-lane")
        lane = LaneLimiter(quota, lane_of(quota, config), share=0.25, max_wait=5)
        async with GreyCloudAsyncClient(rate_limiter=lane) as client:  # type: ignore[arg-type]
            response = await client.embed_content(texts, model=TEXT_MODEL, output_dimensionality=4)
        await quota.aclose()
        return response

    response = asyncio.run(asyncio.wait_for(run(), NO_HANG))
    assert len(response.embeddings) == 2
    assert [len(batch) for batch in predicts(adc_env)] == [2]  # the lane's 2,000 tokens
