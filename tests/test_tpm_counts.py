"""What tpm counts: input tokens by default, as Vertex AI's Gemini quota; ``tpm_counts``.

Real emulator over real HTTP (google-genai, google-auth); the emulator enforces
the same rule as the client, so a limiter set to the emulator's quota never
meets a 429 while using all of it.
"""

from __future__ import annotations

import asyncio

import pytest
from google.genai import types

from greycloud import GreyCloudAsyncClient, GreyCloudConfig
from greycloud.async_cache import GreyCloudAsyncCache
from greycloud.errors import GreyCloudError
from greycloud.quotas import usage_tpm_tokens
from greycloud.rate_limiter import VertexRateLimiter
from greycloud.rules import TPM_COUNTS, ConfigError
from tests.helpers import FAST_RETRY, NO_HANG, statuses, words

# The example: 11 tokens of prompt (emulator tokenizer), an answer of ~3,000.
# Long words: the admission estimate (4 characters a token) is not below the count.
PROMPT = "Describe picturesque mountainside landscapes [[words=3000]]"
FLASH = "gemini-2.5-flash"


async def test_a_short_prompt_with_a_long_answer_is_charged_its_input(adc_env):
    async with GreyCloudAsyncClient(retry_policy=FAST_RETRY) as client:
        response = await client.generate_content(PROMPT)
        usage = response.usage_metadata
        assert usage.prompt_token_count == 11
        assert usage.total_token_count > 3000
        assert client.rate_limiter.tpm_counts == "input"
        assert client.rate_limiter.tokens_in_window() == 11  # not 3,000 and more


async def test_a_stream_is_settled_with_its_input_too(adc_env):
    async with GreyCloudAsyncClient(retry_policy=FAST_RETRY) as client:
        text = "".join([chunk async for chunk in client.generate_content_stream(PROMPT)])
        assert len(text.split()) > 3000
        assert client.rate_limiter.tokens_in_window() == 11


async def test_total_counts_answer_tokens_for_quotas_that_count_them(adc_env, monkeypatch):
    monkeypatch.setenv("GREYCLOUD_TPM_COUNTS", "total")
    async with GreyCloudAsyncClient(retry_policy=FAST_RETRY) as client:
        response = await client.generate_content(PROMPT)
        assert client.rate_limiter.tpm_counts == "total"
        charged = client.rate_limiter.tokens_in_window()
        assert charged == response.usage_metadata.total_token_count > 3000


@pytest.mark.parametrize("counts", ["input", "uncached-input"])
async def test_cached_tokens_count_as_input_unless_told_otherwise(emu, counts):
    config = GreyCloudConfig(model=FLASH, tpm_counts=counts)
    client = GreyCloudAsyncClient(config, retry_policy=FAST_RETRY)
    async with GreyCloudAsyncCache(client=client) as caches:
        cache = await caches.create_cache_from_text(text=words(1200))
        response = await caches.generate_with_cache(cache.name, "Sum it up")
        usage = response.usage_metadata
        assert usage.cached_content_token_count >= 1200
        expected = usage.prompt_token_count
        if counts == "uncached-input":
            expected -= usage.cached_content_token_count
        assert client.rate_limiter.tokens_in_window() == expected


def test_each_kind_reads_its_fields_of_real_usage_metadata():
    usage = types.GenerateContentResponseUsageMetadata(
        prompt_token_count=1300,
        cached_content_token_count=1200,
        tool_use_prompt_token_count=20,
        candidates_token_count=400,
        thoughts_token_count=600,
        total_token_count=2320,
    )
    charged = {counts: usage_tpm_tokens(usage, counts) for counts in TPM_COUNTS}
    assert charged == {"input": 1320, "uncached-input": 120, "total": 2320}
    assert usage_tpm_tokens(None, "input") is None  # no usage: the estimate stays
    assert usage_tpm_tokens(types.GenerateContentResponseUsageMetadata(), "total") is None


def test_the_setting_comes_from_code_then_environment_and_is_checked(monkeypatch):
    assert GreyCloudConfig(project_id="p").tpm_counts == "input"
    monkeypatch.setenv("GREYCLOUD_TPM_COUNTS", "Uncached-Input")
    assert GreyCloudConfig(project_id="p").tpm_counts == "uncached-input"
    assert GreyCloudConfig(project_id="p", tpm_counts="total").tpm_counts == "total"
    for bad in ("output", "input+output", ""):
        monkeypatch.setenv("GREYCLOUD_TPM_COUNTS", "nonsense")
        with pytest.raises(ConfigError, match="input, uncached-input, total") as info:
            GreyCloudConfig(project_id="p", tpm_counts=bad or "nonsense")
        assert info.value.field == "tpm_counts"
    with pytest.raises(ConfigError, match="tpm_counts='tokens'"):
        VertexRateLimiter(tpm_counts="tokens")
    limiter = VertexRateLimiter.from_config(GreyCloudConfig(project_id="p", tpm_counts="total"))
    assert limiter.tpm_counts == "total"


# -- the emulator's rule --------------------------------------------------------------


async def _answers(client: GreyCloudAsyncClient, count: int) -> list[str]:
    outcomes = []
    for _ in range(count):
        try:
            await client.generate_content(PROMPT)
            outcomes.append("ok")
        except GreyCloudError as exc:
            outcomes.append(str(exc))
    return outcomes


async def test_the_emulator_refuses_only_when_input_tokens_exceed_its_tpm(adc_env):
    adc_env.state.set_quota(tpm=40, window_seconds=60)
    unlimited = VertexRateLimiter(rpm=1000, tpm=10**9)
    async with GreyCloudAsyncClient(rate_limiter=unlimited, retry_policy=FAST_RETRY) as client:
        outcomes = await _answers(client, 4)
    # 11 + 11 + 11 = 33 input tokens fit in 40 (with ~9,000 answer tokens); 44 do not.
    assert outcomes[:3] == ["ok"] * 3
    assert "generate_content_input_token_count" in outcomes[3]
    assert "limit: 40" in outcomes[3]
    assert statuses(adc_env, "generateContent") == [200, 200, 200, 429]


async def test_the_emulator_counts_every_token_when_set_to_total(adc_env):
    adc_env.state.set_quota(tpm=4000, window_seconds=60, tpm_counts="total")
    unlimited = VertexRateLimiter(rpm=1000, tpm=10**9)
    async with GreyCloudAsyncClient(rate_limiter=unlimited, retry_policy=FAST_RETRY) as client:
        outcomes = await _answers(client, 2)
    assert outcomes[0] == "ok"
    assert "generate_content_total_token_count" in outcomes[1]
    with pytest.raises(ConfigError, match="tpm_counts"):
        adc_env.state.set_quota(tpm=10, tpm_counts="output")


async def test_a_limiter_at_the_emulators_tpm_uses_it_all_without_a_429(adc_env):
    adc_env.state.set_quota(tpm=60, window_seconds=1.0)
    limiter = VertexRateLimiter(rpm=1000, tpm=60, max_concurrency=4, period=1.0)
    async with GreyCloudAsyncClient(rate_limiter=limiter, retry_policy=FAST_RETRY) as client:
        await asyncio.wait_for(
            asyncio.gather(*(client.generate_content(PROMPT) for _ in range(10))), NO_HANG
        )
    # 10 x 11 input tokens at 60 per second: two windows, and the server refused nothing.
    assert statuses(adc_env, "generateContent") == [200] * 10
