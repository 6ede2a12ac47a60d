"""GreyCloudAsyncCache against the emulator over real HTTP, and parity with GreyCloudCache."""

from __future__ import annotations

import datetime as dt
import inspect

import pytest
from google.genai import types

from greycloud import GreyCloudAsyncCache, GreyCloudAsyncClient, GreyCloudCache, GreyCloudConfig
from greycloud.cache import CacheTooSmallError
from greycloud.emulator.cache_routes import cache_store
from greycloud.emulator.text import MEDIA_PART_TOKENS, count_tokens
from greycloud.errors import APICallError, QuotaExhaustedError, RetriesExhaustedError
from greycloud.pricing import price_for
from greycloud.rate_limiter import VertexRateLimiter
from tests.helpers import FAST_RETRY, cache_creations, loop_lags, words

FLASH = "gemini-2.5-flash"


@pytest.fixture
async def caches(emu):
    client = GreyCloudAsyncClient(GreyCloudConfig(model=FLASH), retry_policy=FAST_RETRY)
    async with GreyCloudAsyncCache(client=client) as cache:
        yield cache


@pytest.fixture
async def big_cache(caches):
    return await caches.create_cache_from_text(
        text=words(1200), display_name="big", system_instruction="Be terse."
    )


# -- parity ----------------------------------------------------------------------


def _public(cls: type) -> set[str]:
    return {n for n in dir(cls) if not n.startswith("_")}


def test_same_public_methods_and_signatures_as_the_sync_cache():
    # Closing is the one documented difference: close() vs aclose(), like the clients.
    assert _public(GreyCloudCache) - {"close"} == _public(GreyCloudAsyncCache) - {"aclose"}
    for name in sorted(_public(GreyCloudCache) - {"close", "client"}):
        sync_method = getattr(GreyCloudCache, name)
        async_method = getattr(GreyCloudAsyncCache, name)
        sync_params = list(inspect.signature(sync_method).parameters.values())
        async_params = list(inspect.signature(async_method).parameters.values())
        assert sync_params == async_params, name
        sync_return = inspect.signature(sync_method).return_annotation
        async_return = inspect.signature(async_method).return_annotation
        if name == "generate_with_cache_stream":
            assert (sync_return, async_return) == ("TextStream[Any]", "AsyncTextStream[Any]")
        else:
            assert sync_return == async_return, name
            assert inspect.iscoroutinefunction(async_method), name
    assert isinstance(GreyCloudAsyncCache.client, property)


# -- creation ----------------------------------------------------------------------


async def test_create_from_text_counts_first_then_creates(caches, emu):
    text = words(1500)
    cache = await caches.create_cache_from_text(
        text=text, display_name="doc", system_instruction="You analyse.", ttl_seconds=600
    )
    assert cache.name.startswith("projects/emulator-project/locations/us-central1/cachedContents/")
    assert cache.usage_metadata.total_token_count == count_tokens(text) + count_tokens(
        "You analyse."
    )
    lifetime = cache.expire_time - cache.create_time
    assert dt.timedelta(seconds=599) < lifetime <= dt.timedelta(seconds=601)
    count = emu.state.requests_for("countTokens")[-1].body
    assert count["systemInstruction"]["parts"][0]["text"] == "You analyse."
    assert cache_creations(emu)[0].body["ttl"] == "600s"


async def test_too_small_is_refused_before_the_api(caches, emu):
    with pytest.raises(CacheTooSmallError) as info:
        await caches.create_cache_from_text(text=words(100))
    assert (info.value.token_count, info.value.min_tokens) == (100, 1024)
    assert cache_creations(emu) == []


async def test_min_tokens_overrides_the_table(caches, emu):
    with pytest.raises(CacheTooSmallError) as info:
        await caches.create_cache_from_text(text=words(1500), min_tokens=2000)
    assert (info.value.token_count, info.value.min_tokens) == (1500, 2000)
    assert cache_creations(emu) == []
    # 0 skips the pre-check: no count, and the API (here the emulator) decides.
    counts = len(emu.state.requests_for("countTokens"))
    with pytest.raises(APICallError) as refused:
        await caches.create_cache_from_text(text=words(100), min_tokens=0)
    assert refused.value.code == 400 and "minimum token count" in str(refused.value)
    assert len(emu.state.requests_for("countTokens")) == counts
    with pytest.raises(ValueError, match="min_tokens"):
        await caches.create_cache_from_text(text=words(1500), min_tokens=-1)


async def test_create_from_files_guesses_mime_types(caches, emu):
    uris = [f"gs://docs-bucket/part{i}.pdf" for i in range(3)] + ["gs://docs-bucket/notes.md"]
    cache = await caches.create_cache_from_files(file_uris=uris, text=words(100))
    assert cache.usage_metadata.total_token_count == 4 * MEDIA_PART_TOKENS + 100
    parts = cache_creations(emu)[0].body["contents"][0]["parts"]
    mimes = [p["fileData"].get("mimeType") or p["fileData"]["mime_type"] for p in parts[:4]]
    assert mimes == ["application/pdf"] * 3 + ["text/markdown"]
    with pytest.raises(ValueError, match="gs://"):
        await caches.create_cache_from_files(file_uris=["/etc/passwd"])


async def test_create_cache_with_any_contents_and_expire_time(caches, emu):
    contents = [
        types.Content(role="user", parts=[types.Part.from_text(text=words(700))]),
        types.Content(role="model", parts=[types.Part.from_text(text="Noted.")]),
        types.Content(role="user", parts=[types.Part.from_text(text=words(400))]),
    ]
    cache = await caches.create_cache(contents, expire_time="2099-01-01T00:00:00Z")
    assert cache.expire_time.year == 2099
    assert [c["role"] for c in cache_creations(emu)[0].body["contents"]] == [
        "user",
        "model",
        "user",
    ]


# -- retries and the rate limiter ---------------------------------------------------------


async def test_reads_are_retried_and_creation_only_after_refusals(caches, big_cache, emu):
    emu.state.add_fault(503, action="cachedContents.get", times=2)
    assert (await caches.get_cache(big_cache.name)).name == big_cache.name
    assert [r.status for r in emu.state.requests_for("cachedContents.get")] == [503, 503, 200]

    emu.state.add_fault(429, action="cachedContents.create")
    assert await caches.create_cache_from_text(text=words(1100))
    assert [r.status for r in cache_creations(emu)][-2:] == [429, 200]

    # A 503 may have created the cache: creating again could make a duplicate.
    before = len(cache_creations(emu))
    emu.state.add_fault(503, action="cachedContents.create", times=3)
    with pytest.raises(RetriesExhaustedError):
        await caches.create_cache_from_text(text=words(1100))
    assert len(cache_creations(emu)) == before + 1
    emu.state.clear_faults()

    # A daily quota is not retried either: it holds until tomorrow.
    before = len(cache_creations(emu))
    emu.state.add_fault(429, action="cachedContents.create", quota="per_day", times=3)
    with pytest.raises(QuotaExhaustedError):
        await caches.create_cache_from_text(text=words(1100))
    assert len(cache_creations(emu)) == before + 1
    emu.state.clear_faults()


async def test_count_and_create_go_through_the_shared_limiter(emu):
    limiter = VertexRateLimiter(rpm=100, tpm=1_000_000, max_concurrency=5)
    client = GreyCloudAsyncClient(GreyCloudConfig(model=FLASH), rate_limiter=limiter)
    async with GreyCloudAsyncCache(client=client) as caches:
        cache = await caches.create_cache_from_text(text=words(1100))
        assert limiter.requests_in_window() == 2  # countTokens + create
        await caches.get_cache(cache.name)
        await caches.list_caches()
        assert limiter.requests_in_window() == 2  # management calls are not rate limited


async def test_the_loop_never_stalls_during_cache_calls(emu):
    async with loop_lags() as lags:
        async with GreyCloudAsyncCache(GreyCloudConfig(model=FLASH)) as caches:
            await caches.create_cache_from_text(text=words(1100))
            await caches.list_caches()
    assert max(lags) < 0.5


# -- generation ----------------------------------------------------------------------


async def test_generate_with_cache_uses_the_cache_model(big_cache, emu):
    other = GreyCloudAsyncCache(GreyCloudConfig(model="gemini-3-flash-preview"))
    response = await other.generate_with_cache(big_cache.name, "Summarize")
    assert response.usage_metadata.cached_content_token_count == (
        big_cache.usage_metadata.total_token_count
    )
    request = emu.state.requests_for("generateContent")[-1]
    assert request.path.endswith(f"models/{FLASH}:generateContent")
    assert request.body["cachedContent"] == big_cache.name
    assert "systemInstruction" not in request.body
    await other.aclose()


async def test_stream_with_cache_matches_the_full_answer(caches, big_cache, emu):
    full = (await caches.generate_with_cache(big_cache.name, "Key findings?")).text
    streamed = "".join(
        [t async for t in caches.generate_with_cache_stream(big_cache.name, "Key findings?")]
    )
    assert streamed == full
    # A cache whose model is not known yet: looked up when iteration starts.
    fresh = GreyCloudAsyncCache(GreyCloudConfig(model="gemini-3-flash-preview"))
    stream = fresh.generate_with_cache_stream(big_cache.name, "Key findings?")
    assert "".join([t async for t in stream]) == full
    assert stream.usage_metadata is not None and stream.usage_metadata.cached_content_token_count
    with pytest.raises(ValueError, match="system_instruction"):
        fresh.generate_with_cache_stream(big_cache.name, "Hi", system_instruction="Loud.")
    await fresh.aclose()


# -- management ----------------------------------------------------------------------


async def test_list_info_update_delete(caches, big_cache, emu):
    second = await caches.create_cache_from_text(text=words(1100), display_name="second")
    assert {c.name for c in await caches.list_caches(page_size=1)} == {big_cache.name, second.name}
    info = await caches.get_cache_info(big_cache.name)
    assert info["name"] == big_cache.name and info["display_name"] == "big"
    assert info["total_token_count"] == big_cache.usage_metadata.total_token_count

    with pytest.raises(ValueError, match="exactly one"):
        await caches.update_cache_ttl(big_cache.name)
    updated = await caches.update_cache_ttl(big_cache.name, ttl_seconds=7200)
    assert updated.expire_time - updated.update_time == dt.timedelta(hours=2)
    assert emu.state.requests_for("cachedContents.update")[-1].body == {"ttl": "7200s"}

    assert await caches.delete_all_caches(display_name_filter="big") == 1
    await caches.delete_cache(second)
    assert await caches.list_caches() == []
    with pytest.raises(APICallError) as info_404:
        await caches.delete_cache(second.name)
    assert info_404.value.code == 404


async def test_cost_estimate(caches, big_cache):
    tokens = big_cache.usage_metadata.total_token_count
    estimate = await caches.estimate_cost_savings(big_cache.name, 10, hours=2)
    millions = tokens / 1_000_000
    price = price_for(FLASH)
    assert estimate.cost_without_cache == pytest.approx(10 * millions * price.input_per_million)


@pytest.mark.parametrize("name", ["../x", "x?alt=json", "%2e%2e/y", "models/x", "a b"])
async def test_bad_names_are_refused_before_any_request(caches, emu, name):
    for call in (
        lambda: caches.get_cache(name),
        lambda: caches.delete_cache(name),
        lambda: caches.update_cache_ttl(name, ttl_seconds=60),
        lambda: caches.generate_with_cache(name, "Hi"),
    ):
        with pytest.raises(ValueError, match="cachedContents/ID"):
            await call()
    assert not [r for r in emu.state.requests if "cachedContents" in r.path]


async def test_expired_and_unknown_caches_are_clear_api_errors(caches, big_cache, emu):
    with pytest.raises(APICallError) as unknown:
        await caches.generate_with_cache(
            "projects/emulator-project/locations/us-central1/cachedContents/404",
            "Hi",
            model=FLASH,
            max_retries=0,
        )
    assert unknown.value.code == 404
    cache_store(emu.state).advance(3601)
    assert await caches.list_caches() == []
    with pytest.raises(APICallError) as expired:
        await caches.get_cache(big_cache.name)
    assert expired.value.code == 404
    with pytest.raises(APICallError) as generate:
        await caches.generate_with_cache(big_cache.name, "Still there?", max_retries=0)
    assert generate.value.code == 404
