"""GreyCloudCache against the Vertex emulator over real HTTP (and the price table)."""

from __future__ import annotations

import datetime as dt

import pytest
from google import genai
from google.genai import types

from greycloud import GreyCloudClient, GreyCloudConfig
from greycloud.cache import CacheTooSmallError, GreyCloudCache, ttl_string
from greycloud.emulator.cache_routes import cache_store
from greycloud.emulator.text import MEDIA_PART_TOKENS, count_tokens
from greycloud.errors import APICallError
from greycloud.pricing import (
    DEFAULT_PRICE,
    MIN_CACHE_TOKENS,
    ModelPrice,
    estimate_cache_cost,
    min_cache_tokens,
    price_for,
)
from tests.helpers import cache_creations, words

FLASH = "gemini-2.5-flash"
PRO = "gemini-2.5-pro"


@pytest.fixture
def caches(emu):
    client = GreyCloudCache(GreyCloudConfig(model=FLASH))
    yield client
    client.generator.close()


# -- the table and the size check --------------------------------------------


def test_minimum_table_takes_the_lowest_documented_value():
    assert min_cache_tokens("gemini-2.5-flash") == 1024
    assert min_cache_tokens("gemini-2.5-flash-lite") == 1024
    assert min_cache_tokens("publishers/google/models/gemini-2.5-pro") == 2048
    assert min_cache_tokens("gemini-3-flash-preview") == 1024
    assert min_cache_tokens("gemini-3-pro-preview") == 4096
    assert min_cache_tokens("gemini-3.1-pro-preview") == 1024
    # an unknown model gets the lowest value known for any model: never refused early
    assert min_cache_tokens("some-future-model") == min(MIN_CACHE_TOKENS.values()) == 1024
    assert set(MIN_CACHE_TOKENS) >= {"gemini-2.5-flash", "gemini-2.5-pro"}


def test_create_from_text_counts_first_then_creates(caches, emu):
    text = words(1500)
    cache = caches.create_cache_from_text(
        text=text, display_name="doc", system_instruction="You analyse.", ttl_seconds=600
    )
    assert cache.name.startswith("projects/emulator-project/locations/us-central1/cachedContents/")
    assert cache.usage_metadata.total_token_count == count_tokens(text) + count_tokens(
        "You analyse."
    )
    assert cache.display_name == "doc"
    assert cache.model.endswith(f"publishers/google/models/{FLASH}")
    lifetime = cache.expire_time - cache.create_time
    assert dt.timedelta(seconds=599) < lifetime <= dt.timedelta(seconds=601)
    count = emu.state.requests_for("countTokens")[-1].body
    assert count["systemInstruction"]["parts"][0]["text"] == "You analyse."
    body = cache_creations(emu)[0].body
    assert body["ttl"] == "600s"
    assert body["systemInstruction"]["parts"][0]["text"] == "You analyse."


def test_too_small_is_refused_before_the_api_with_both_numbers(caches, emu):
    with pytest.raises(CacheTooSmallError) as info:
        caches.create_cache_from_text(text=words(100), display_name="tiny")
    assert info.value.token_count == 100
    assert info.value.min_tokens == 1024
    assert "100" in str(info.value) and "1024" in str(info.value)
    assert cache_creations(emu) == []


def test_pro_model_needs_more_tokens(emu):
    client = GreyCloudCache(GreyCloudConfig(model=PRO))
    with pytest.raises(CacheTooSmallError) as info:
        client.create_cache_from_text(text=words(2000))
    assert (info.value.token_count, info.value.min_tokens) == (2000, 2048)
    assert cache_creations(emu) == []


def test_emulator_refuses_too_small_caches_too(emu):
    """A client that skips the check gets Vertex's 400 from the emulator."""
    client = GreyCloudClient(GreyCloudConfig(model=FLASH)).client
    with pytest.raises(genai.errors.ClientError) as info:
        client.caches.create(
            model=FLASH, config=types.CreateCachedContentConfig(contents=["just a few words"])
        )
    assert info.value.code == 400
    assert "minimum token count" in str(info.value)


def test_create_from_files_guesses_or_takes_mime_types(caches, emu):
    uris = [f"gs://docs-bucket/part{i}.pdf" for i in range(3)] + ["gs://docs-bucket/notes.md"]
    cache = caches.create_cache_from_files(
        file_uris=uris, display_name="files", ttl_seconds=7200, text=words(100)
    )
    assert cache.usage_metadata.total_token_count == 4 * MEDIA_PART_TOKENS + 100
    parts = cache_creations(emu)[0].body["contents"][0]["parts"]
    sent = [(p["fileData"].get("fileUri") or p["fileData"]["file_uri"]) for p in parts[:4]]
    mimes = [p["fileData"].get("mimeType") or p["fileData"]["mime_type"] for p in parts[:4]]
    assert sent == uris
    assert mimes == ["application/pdf"] * 3 + ["text/markdown"]

    caches.create_cache_from_files(file_uris=uris, mime_type="text/plain", text=words(100))
    parts = cache_creations(emu)[1].body["contents"][0]["parts"]
    assert {p["fileData"].get("mimeType") or p["fileData"]["mime_type"] for p in parts[:4]} == {
        "text/plain"
    }


def test_create_from_files_validates_uris(caches, emu):
    with pytest.raises(ValueError, match="gs://"):
        caches.create_cache_from_files(file_uris=["/etc/passwd"])
    with pytest.raises(ValueError, match=r"\.\."):
        caches.create_cache_from_files(file_uris=["gs://bucket/../secret.txt"])
    with pytest.raises(ValueError, match="entries"):
        caches.create_cache_from_files(file_uris=["gs://b-1/a.txt"], mime_type=["a", "b"])
    assert emu.state.requests_for("countTokens") == []


def test_create_cache_with_any_contents(caches, emu):
    contents = [
        types.Content(role="user", parts=[types.Part.from_text(text=words(700))]),
        types.Content(role="model", parts=[types.Part.from_text(text="Noted.")]),
        types.Content(role="user", parts=[types.Part.from_text(text=words(400))]),
    ]
    cache = caches.create_cache(contents, display_name="chat", expire_time="2099-01-01T00:00:00Z")
    assert cache.expire_time.year == 2099
    assert [c["role"] for c in cache_creations(emu)[0].body["contents"]] == [
        "user",
        "model",
        "user",
    ]


# -- generation ----------------------------------------------------------------


@pytest.fixture
def big_cache(caches):
    return caches.create_cache_from_text(
        text=words(1200), display_name="big", system_instruction="Be terse."
    )


def test_generate_with_cache_sends_the_cache_and_no_instruction(caches, big_cache, emu):
    response = caches.generate_with_cache(cache_name=big_cache.name, prompt="Summarize")
    assert response.text
    body = emu.state.requests_for("generateContent")[-1].body
    assert body["cachedContent"] == big_cache.name
    assert "systemInstruction" not in body and "tools" not in body
    assert emu.state.requests_for("generateContent")[-1].path.endswith(
        f"models/{FLASH}:generateContent"
    )


def test_generate_uses_the_cache_model_even_if_config_differs(big_cache, emu):
    other = GreyCloudCache(GreyCloudConfig(model="gemini-3-flash-preview"))
    other.generate_with_cache(big_cache.name, "Summarize")
    assert emu.state.requests_for("generateContent")[-1].path.endswith(
        f"models/{FLASH}:generateContent"
    )


def test_generate_reports_cached_tokens(caches, big_cache):
    response = caches.generate_with_cache(big_cache.name, "Summarize")
    usage = response.usage_metadata
    cached = big_cache.usage_metadata.total_token_count
    assert usage.cached_content_token_count == cached
    assert usage.prompt_token_count == cached + 1


def test_stream_with_cache_matches_the_full_answer(caches, big_cache, emu):
    full = caches.generate_with_cache(big_cache.name, "Key findings?").text
    streamed = "".join(caches.generate_with_cache_stream(big_cache.name, "Key findings?"))
    assert streamed == full
    assert emu.state.requests_for("streamGenerateContent")[-1].body["cachedContent"] == (
        big_cache.name
    )


def test_system_instruction_with_cache_is_refused_before_sending(caches, big_cache, emu):
    before = len(emu.state.requests_for("generateContent"))
    with pytest.raises(ValueError, match="system_instruction"):
        caches.generate_with_cache(big_cache.name, "Hi", system_instruction="Be loud.")
    assert len(emu.state.requests_for("generateContent")) == before


def test_greycloud_client_uses_cached_content(big_cache, emu):
    client = GreyCloudClient(GreyCloudConfig(model=FLASH))
    contents = [types.Content(role="user", parts=[types.Part.from_text(text="Summarize")])]
    assert client.generate_content(contents, cached_content=big_cache.name).text
    assert "".join(client.generate_content_stream(contents, cached_content=big_cache.name))
    assert emu.state.requests_for("generateContent")[-1].body["cachedContent"] == big_cache.name


def test_unknown_cache_is_a_clear_api_error(caches):
    with pytest.raises(APICallError) as info:
        caches.generate_with_cache(
            "projects/emulator-project/locations/us-central1/cachedContents/404",
            "Hi",
            model=FLASH,
            max_retries=0,
        )
    assert info.value.code == 404


# -- management ----------------------------------------------------------------


def test_list_and_info(caches, big_cache):
    second = caches.create_cache_from_text(text=words(1100), display_name="second")
    listed = caches.list_caches()
    assert {c.name for c in listed} == {big_cache.name, second.name}
    info = caches.get_cache_info(big_cache.name)
    assert set(info) >= {
        "name",
        "display_name",
        "model",
        "total_token_count",
        "create_time",
        "expire_time",
    }
    assert info["name"] == big_cache.name
    assert info["display_name"] == "big"
    assert info["total_token_count"] == big_cache.usage_metadata.total_token_count
    assert dt.datetime.fromisoformat(info["expire_time"]) > dt.datetime.now(dt.timezone.utc)
    assert caches.get_cache_info(listed[0])["name"] == listed[0].name


def test_update_ttl_takes_exactly_one_of_ttl_or_expire_time(caches, big_cache, emu):
    with pytest.raises(ValueError, match="exactly one"):
        caches.update_cache_ttl(big_cache.name)
    with pytest.raises(ValueError, match="exactly one"):
        caches.update_cache_ttl(big_cache.name, ttl_seconds=60, expire_time="2099-01-01T00:00:00Z")
    with pytest.raises(ValueError, match="past"):
        caches.update_cache_ttl(big_cache.name, expire_time=dt.datetime(2000, 1, 1))
    assert emu.state.requests_for("cachedContents.update") == []

    updated = caches.update_cache_ttl(big_cache.name, ttl_seconds=7200)
    assert updated.expire_time - updated.update_time == dt.timedelta(hours=2)
    assert emu.state.requests_for("cachedContents.update")[-1].body == {"ttl": "7200s"}

    when = dt.datetime(2099, 5, 1, 12, 0, tzinfo=dt.timezone.utc)
    updated = caches.update_cache_ttl(big_cache.name, expire_time=when)
    assert updated.expire_time == when


def test_delete_and_delete_all_with_filter(caches, big_cache):
    keep = caches.create_cache_from_text(text=words(1100), display_name="keep")
    caches.create_cache_from_text(text=words(1100), display_name="big")
    assert caches.delete_all_caches(display_name_filter="big") == 2
    assert [c.name for c in caches.list_caches()] == [keep.name]
    caches.delete_cache(keep.name)
    assert caches.list_caches() == []
    with pytest.raises(APICallError) as info:
        caches.delete_cache(keep.name)
    assert info.value.code == 404
    caches.create_cache_from_text(text=words(1100))
    assert caches.delete_all_caches() == 1


def test_expired_caches_disappear(caches, big_cache, emu):
    cache_store(emu.state).advance(3601)
    assert caches.list_caches() == []
    with pytest.raises(APICallError) as info:
        caches.get_cache(big_cache.name)
    assert info.value.code == 404


def test_ttl_string():
    assert ttl_string(3600) == "3600s"
    assert ttl_string(1.5) == "1.500s"
    for bad in (0, -1, "10", True):
        with pytest.raises(ValueError):
            ttl_string(bad)


# -- costs ----------------------------------------------------------------------


def test_cost_estimate_from_the_price_table(caches, big_cache):
    tokens = big_cache.usage_metadata.total_token_count
    estimate = caches.estimate_cost_savings(big_cache, 10, hours=2)
    price = price_for(FLASH)
    millions = tokens / 1_000_000
    assert estimate.storage_cost_per_hour == pytest.approx(
        millions * price.storage_per_million_per_hour
    )
    assert estimate.cost_without_cache == pytest.approx(10 * millions * price.input_per_million)
    assert estimate.cost_with_cache == pytest.approx(
        10 * millions * price.cached_input_per_million
        + 2 * millions * price.storage_per_million_per_hour
    )
    assert estimate.saving == pytest.approx(estimate.cost_without_cache - estimate.cost_with_cache)


def test_cost_table_is_overridable():
    prices = {"gemini-2.5-flash": ModelPrice(1.0, 0.1, 0.5)}
    estimate = estimate_cache_cost(2_000_000, 3, model="gemini-2.5-flash-001", prices=prices)
    assert estimate.cost_without_cache == pytest.approx(6.0)
    assert estimate.cost_with_cache == pytest.approx(0.6 + 1.0)
    assert estimate.saving == pytest.approx(4.4)
    assert estimate.saving_percent == pytest.approx(100 * 4.4 / 6.0)
    assert price_for("unknown-model", prices) is DEFAULT_PRICE
    assert 0.75 <= price_for("gemini-2.0-flash").cached_discount <= 0.9
    with pytest.raises(ValueError):
        estimate_cache_cost(10, 1, model=FLASH, hours=0)


def test_resolve_cached_content_merges_the_cache_for_the_model_routes(caches, big_cache, emu):
    from greycloud.emulator.cache_routes import resolve_cached_content
    from greycloud.emulator.errors import ApiError

    body = {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}
    assert resolve_cached_content(emu.state, body, FLASH) == (body, 0)
    merged, cached = resolve_cached_content(
        emu.state, {**body, "cachedContent": big_cache.name}, FLASH
    )
    assert cached == big_cache.usage_metadata.total_token_count
    assert "cachedContent" not in merged
    assert merged["systemInstruction"]["parts"][0]["text"] == "Be terse."
    assert merged["contents"][-1] == body["contents"][0]
    assert len(merged["contents"]) == 2
    with pytest.raises(ApiError) as info:
        resolve_cached_content(emu.state, {**body, "cachedContent": big_cache.name}, PRO)
    assert info.value.code == 400
    with pytest.raises(ApiError) as info:
        resolve_cached_content(emu.state, {**body, "cachedContent": big_cache.name + "0"}, FLASH)
    assert info.value.code == 404


def test_generate_with_an_expired_cache_fails_clearly(caches, big_cache, emu):
    cache_store(emu.state).advance(4000)
    with pytest.raises(APICallError) as info:
        caches.generate_with_cache(big_cache.name, "Still there?", max_retries=0)
    assert info.value.code == 404


def test_cache_routes_require_credentials(emu):
    import requests

    url = f"{emu.url}v1beta1/projects/emulator-project/locations/us-central1/cachedContents"
    answer = requests.get(url, timeout=5)
    assert answer.status_code == 401
    assert answer.json()["error"]["status"] == "UNAUTHENTICATED"


# -- one name rule, min_tokens and retries ----------------------------------------------


def test_cache_names_accept_exactly_the_three_forms():
    from greycloud.cache_names import cache_id, validate_cache_name

    full = "projects/my-proj/locations/us-central1/cachedContents/123_abc-9"
    for good in ("123", "cachedContents/123", full, f"  {full} "):
        assert validate_cache_name(good) == good.strip()
    assert cache_id(full) == "123_abc-9" and cache_id("cachedContents/7") == "7"
    for bad in (
        "",
        "models/123",
        "projects/p/locations/l/batchPredictionJobs/1",
        "projects/p/cachedContents/1",
        "projects/../locations/l/cachedContents/1",
        "cachedContents/",
        "a.b",
        "a%2Fb",
        None,
    ):
        with pytest.raises(ValueError, match=r"ID, cachedContents/ID or projects/P/locations/L"):
            validate_cache_name(bad)


def test_min_tokens_overrides_the_table_sync(caches, emu):
    with pytest.raises(CacheTooSmallError) as info:
        caches.create_cache_from_text(text=words(1500), min_tokens=2000)
    assert (info.value.token_count, info.value.min_tokens) == (1500, 2000)
    assert "min_tokens" in str(info.value)
    counts = len(emu.state.requests_for("countTokens"))
    with pytest.raises(APICallError) as refused:
        caches.create_cache_from_text(text=words(100), min_tokens=0)
    assert refused.value.code == 400
    assert len(emu.state.requests_for("countTokens")) == counts
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="min_tokens"):
            caches.create_cache_from_text(text=words(1500), min_tokens=bad)


def test_sync_calls_use_the_client_retry_policy(emu):
    from greycloud.errors import RetriesExhaustedError
    from tests.helpers import FAST_RETRY

    client = GreyCloudClient(GreyCloudConfig(model=FLASH), retry_policy=FAST_RETRY)
    with GreyCloudCache(client=client) as caches:
        emu.state.add_fault(503, action="cachedContents.list", times=2)
        assert caches.list_caches() == []
        assert [r.status for r in emu.state.requests_for("cachedContents.list")] == [503, 503, 200]
        emu.state.add_fault(503, action="cachedContents.create")
        with pytest.raises(RetriesExhaustedError):
            caches.create_cache_from_text(text=words(1100))
        assert len(cache_creations(emu)) == 1  # never sent twice: the 503 may have created it
