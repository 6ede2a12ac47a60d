"""The quota 429 Google actually sends, over real HTTP through google-genai.

The emulator answers with Google's wire shapes (``google.rpc.QuotaFailure``,
``google.rpc.RetryInfo``, "Please retry in ..." messages, per-day quotas and
errors inside a 200 stream body). Timing checks are lower bounds only (a wait
the server asked for must have passed), so a busy machine cannot fail them.
"""

from __future__ import annotations

import pytest
import requests
from google.genai import errors as genai_errors

from greycloud import GreyCloudAsyncClient, GreyCloudClient, GreyCloudConfig
from greycloud.errors import (
    QuotaExhaustedError,
    RetriesExhaustedError,
    StreamInterruptedError,
)
from greycloud.quota_errors import parse_duration, parse_error_payload, quota_details
from tests.helpers import FAST_RETRY, statuses

PER_MINUTE_ID = "GenerateRequestsPerMinutePerProjectPerModel"
PER_DAY_ID = "GenerateRequestsPerDayPerProjectPerModel"
STREAM = "streamGenerateContent"

# A 429 as the Gemini API sends it (from Google's rate-limit docs and user reports).
GOOGLE_PER_DAY_BODY = {
    "error": {
        "code": 429,
        "message": (
            "You exceeded your current quota, please check your plan and billing details.\n"
            "* Quota exceeded for metric: generativelanguage.googleapis.com/"
            "generate_content_free_tier_requests, limit: 50, model: gemini-2.5-pro\n"
            "Please retry in 38.937619744s."
        ),
        "status": "RESOURCE_EXHAUSTED",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": "generativelanguage.googleapis.com/"
                        "generate_content_free_tier_requests",
                        "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                        "quotaDimensions": {"location": "global", "model": "gemini-2.5-pro"},
                        "quotaValue": "50",
                    }
                ],
            },
            {"@type": "type.googleapis.com/google.rpc.Help", "links": []},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "38s"},
        ],
    }
}


@pytest.fixture
def client(adc_env):
    with GreyCloudClient(retry_policy=FAST_RETRY) as client:
        yield client


@pytest.fixture
async def aclient(adc_env):
    async with GreyCloudAsyncClient(retry_policy=FAST_RETRY) as client:
        yield client


def gap_after_first(emulator, action: str = "generateContent") -> float:
    """Seconds between the end of the first answer and the arrival of the second request."""
    first, second = emulator.state.requests_for(action)[:2]
    return second.time - first.end_time


# -- parsing ---------------------------------------------------------------------------


def test_google_body_is_parsed_and_the_longer_delay_wins():
    details = parse_error_payload(GOOGLE_PER_DAY_BODY)
    assert details is not None
    (violation,) = details.violations
    assert violation.quota_id == "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
    assert violation.quota_metric.endswith("generate_content_free_tier_requests")
    assert violation.quota_dimensions == {"location": "global", "model": "gemini-2.5-pro"}
    assert violation.quota_value == "50"
    assert violation.per_day and details.daily == (violation,)
    # RetryInfo says 38s, the message 38.937...s: whichever is longer
    assert details.retry_delay == pytest.approx(38.937619744)
    assert not details.limit_zero


def test_message_alone_gives_the_delay_and_limit_zero():
    body = {"error": {"code": 429, "message": "limit: 0, model: x\nPlease retry in 750ms."}}
    details = parse_error_payload(body)
    assert details.retry_delay == pytest.approx(0.75)
    assert details.limit_zero and details.violations == ()
    assert parse_error_payload({"error": {"code": 429, "message": "limit: 0.5"}}) is None
    assert parse_error_payload({"error": {"code": 429, "message": "Resource exhausted"}}) is None
    assert parse_error_payload("not json") is None


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [("32.5s", 32.5), ("38s", 38.0), ("0.5s", 0.5), ({"seconds": 3, "nanos": 5e8}, 3.5)],
)
def test_durations(raw, seconds):
    assert parse_duration(raw) == pytest.approx(seconds)


@pytest.mark.parametrize("raw", ["soon", "-3s", None, "s"])
def test_malformed_durations_are_ignored(raw):
    assert parse_duration(raw) is None


# -- the emulator's wire shapes, read by the real google-genai ---------------------------


def test_emulator_sends_googles_per_minute_shape(adc_env, client):
    adc_env.state.add_fault(429, quota="per_minute", quota_value=60, retry_delay=32.5)
    with pytest.raises(genai_errors.ClientError) as info:
        client.client.models.generate_content(model="gemini-3-flash-preview", contents="hi")
    error = info.value
    assert (error.code, error.status) == (429, "RESOURCE_EXHAUSTED")
    assert "retry-after" not in error.response.headers
    kinds = [d["@type"].rsplit(".", 1)[1] for d in error.details["error"]["details"]]
    assert kinds == ["QuotaFailure", "Help", "RetryInfo"]
    details = quota_details(error)
    assert details.quota_id == PER_MINUTE_ID
    assert details.quota_value == "60"
    assert details.retry_delay == 32.5
    assert "Please retry in 32.5s" in error.message


def test_emulator_quota_429_is_google_shaped_and_says_when_it_frees(adc_env, client):
    adc_env.state.set_quota(rpm=1, window_seconds=30)
    raw = client.client  # the google-genai client GreyCloud built, without GreyCloud's retries
    raw.models.generate_content(model="gemini-3-flash-preview", contents="one")
    with pytest.raises(genai_errors.ClientError) as info:
        raw.models.generate_content(model="gemini-3-flash-preview", contents="two")
    details = quota_details(info.value)
    assert details.quota_id == PER_MINUTE_ID and details.quota_value == "1"
    assert 0 < details.retry_delay <= 30


def test_admin_api_programs_quota_shapes_from_another_process(adc_env, client):
    admin = f"{adc_env.url.rstrip('/')}/_emulator"
    refused = requests.post(f"{admin}/faults", json={"status": 429, "quota": "hourly"}, timeout=10)
    assert refused.status_code == 400 and "per_day" in refused.text
    armed = requests.post(
        f"{admin}/faults", json={"status": 429, "quota": "per_day", "quota_value": 7}, timeout=10
    )
    assert armed.ok
    with pytest.raises(QuotaExhaustedError) as info:
        client.generate_content("Hi")
    assert info.value.quota_value == "7"


def test_requests_per_day_quota(adc_env, client):
    adc_env.state.set_quota(rpd=2)
    client.generate_content("one")
    client.generate_content("two")
    with pytest.raises(QuotaExhaustedError) as info:
        client.generate_with_retry("three")
    assert info.value.reason == "daily" and info.value.quota_value == "2"
    assert statuses(adc_env, "generateContent") == [200, 200, 429]


# -- sync ------------------------------------------------------------------------------


def test_retry_info_is_honoured_without_retry_after(client, adc_env):
    adc_env.state.add_fault(429, quota="per_minute", retry_delay=0.6)
    assert client.generate_with_retry("Hi").text
    assert statuses(adc_env, "generateContent") == [429, 200]
    assert gap_after_first(adc_env) >= 0.55  # FAST_RETRY alone would wait 0.01 s


def test_retry_in_message_counts_when_there_are_no_details(client, adc_env):
    adc_env.state.add_fault(429, message="Resource exhausted. Please retry in 0.6s.")
    assert client.generate_with_retry("Hi").text
    assert statuses(adc_env, "generateContent") == [429, 200]
    assert gap_after_first(adc_env) >= 0.55


def test_longer_of_retry_after_and_retry_info_wins(client, adc_env):
    adc_env.state.add_fault(429, quota="per_minute", retry_delay=0.6, retry_after=0.1)
    assert client.generate_with_retry("Hi").text
    assert gap_after_first(adc_env) >= 0.55


def test_per_day_quota_fails_at_once_naming_the_quota(client, adc_env):
    adc_env.state.add_fault(429, quota="per_day", quota_value=50, retry_delay=0.05, times=None)
    with pytest.raises(QuotaExhaustedError) as info:
        client.generate_with_retry("Hi", max_retries=5)
    error = info.value
    assert statuses(adc_env, "generateContent") == [429]
    assert PER_DAY_ID in str(error) and "limit 50" in str(error)
    assert "resets daily" in str(error)
    assert error.reason == "daily"
    assert error.quota_id == PER_DAY_ID and error.quota_value == "50"
    assert error.violations[0].quota_dimensions["model"] == "gemini-3-flash-preview"


def test_limit_zero_fails_at_once(client, adc_env):
    adc_env.state.set_quota(rpm=0)
    with pytest.raises(QuotaExhaustedError) as info:
        client.generate_with_retry("Hi")
    assert info.value.reason == "limit_zero"
    assert "limit: 0" in str(info.value)
    assert statuses(adc_env, "generateContent") == [429]


def test_a_wait_beyond_patience_fails_at_once(adc_env, monkeypatch):
    monkeypatch.setenv("GREYCLOUD_MAX_RETRY_DELAY", "2")
    assert GreyCloudConfig().max_retry_delay == 2.0
    adc_env.state.add_fault(429, quota="per_minute", retry_delay=30)
    with GreyCloudClient(retry_policy=FAST_RETRY) as client:
        with pytest.raises(QuotaExhaustedError) as info:
            client.generate_with_retry("Hi")
    assert info.value.reason == "patience" and info.value.retry_delay == 30
    assert "GREYCLOUD_MAX_RETRY_DELAY" in str(info.value) and "30s" in str(info.value)
    assert statuses(adc_env, "generateContent") == [429]


def test_max_retry_delay_is_validated():
    with pytest.raises(ValueError, match="max_retry_delay"):
        GreyCloudConfig(max_retry_delay=0)


def test_retries_exhausted_by_429_exposes_the_quota(client, adc_env):
    adc_env.state.add_fault(429, quota="per_minute", retry_delay=0.05, times=None)
    with pytest.raises(RetriesExhaustedError) as info:
        client.generate_with_retry("Hi", max_retries=1)
    quota = info.value.quota
    assert quota.quota_id == PER_MINUTE_ID
    assert quota.quota_metric.endswith("generate_content_requests")
    assert quota.retry_delay == 0.05
    assert PER_MINUTE_ID in str(info.value)


def test_429_without_details_keeps_backoff(client, adc_env):
    adc_env.state.add_fault(429, times=None)
    with pytest.raises(RetriesExhaustedError) as info:
        client.generate_with_retry("Hi", max_retries=2)
    assert info.value.quota is None
    assert statuses(adc_env, "generateContent") == [429, 429, 429]


# -- streaming (sync) ------------------------------------------------------------------


def test_429_in_the_stream_body_before_text_is_retried_after_its_delay(client, adc_env):
    prompt = "Story [[words=40]]"
    expected = client.generate_content(prompt).text
    adc_env.state.add_fault(429, quota="per_minute", retry_delay=0.6, stream_error_after_chunks=0)
    assert "".join(client.generate_with_retry(prompt, streaming=True)) == expected
    first, second = adc_env.state.requests_for(STREAM)
    assert first.status == 200 and "429 in stream" in first.fault
    assert second.time - first.end_time >= 0.55


def test_per_day_429_in_the_stream_body_fails_at_once(client, adc_env):
    adc_env.state.add_fault(429, quota="per_day", stream_error_after_chunks=0, times=None)
    with pytest.raises(QuotaExhaustedError) as info:
        "".join(client.generate_with_retry("Hi", streaming=True))
    assert info.value.reason == "daily"
    assert len(adc_env.state.requests_for(STREAM)) == 1


def test_per_day_429_after_text_is_still_a_quota_error(client, adc_env):
    adc_env.state.add_fault(429, quota="per_day", stream_error_after_chunks=2)
    received = []
    with pytest.raises(QuotaExhaustedError):
        for text in client.generate_with_retry("Story [[words=120]]", streaming=True):
            received.append(text)
    assert len(received) == 2


def test_per_minute_429_after_text_interrupts_with_the_quota(client, adc_env):
    adc_env.state.add_fault(429, quota="per_minute", retry_delay=3, stream_error_after_chunks=2)
    received = []
    with pytest.raises(StreamInterruptedError) as info:
        for text in client.generate_with_retry("Story [[words=120]]", streaming=True):
            received.append(text)
    assert info.value.partial_text == "".join(received) and len(received) == 2
    assert info.value.quota.quota_id == PER_MINUTE_ID and info.value.quota.retry_delay == 3
    assert len(adc_env.state.requests_for(STREAM)) == 1


# -- async -----------------------------------------------------------------------------


# RetryInfo slowing every caller sharing the limiter: tests/test_async_client.py
# (test_429_slows_every_caller_sharing_the_limiter, with the header and with the body).


async def test_async_per_day_fails_at_once_and_holds_back_nobody(adc_env, aclient):
    adc_env.state.add_fault(429, quota="per_day", retry_delay=30)
    with pytest.raises(QuotaExhaustedError) as info:
        await aclient.generate_with_retry("Hi")
    assert info.value.quota_id == PER_DAY_ID
    assert statuses(adc_env, "generateContent") == [429]
    assert aclient.rate_limiter.headroom() > 0
    assert (await aclient.generate_content("next")).text


async def test_async_last_429_still_slows_the_others(adc_env, aclient):
    # 2 s, so a busy machine still checks the headroom well inside the delay.
    adc_env.state.add_fault(429, quota="per_minute", retry_delay=2.0)
    with pytest.raises(RetriesExhaustedError) as info:
        await aclient.generate_content("one attempt only")
    assert info.value.quota.retry_delay == 2.0
    assert aclient.rate_limiter.headroom() == 0  # held back for the server's delay
    await aclient.generate_content("after the delay")
    assert gap_after_first(adc_env) >= 1.9


async def test_async_429_in_the_stream_body_is_retried_after_its_delay(adc_env, aclient):
    adc_env.state.add_fault(429, quota="per_minute", retry_delay=0.6, stream_error_after_chunks=0)
    stream = aclient.generate_with_retry("Story [[words=40]]", streaming=True)
    text = "".join([t async for t in stream])
    assert text
    assert gap_after_first(adc_env, STREAM) >= 0.55
    assert aclient.rate_limiter.in_flight == 0


async def test_async_per_day_in_the_stream_body_fails_at_once(adc_env, aclient):
    adc_env.state.add_fault(429, quota="per_day", stream_error_after_chunks=0, times=None)
    with pytest.raises(QuotaExhaustedError):
        async for _ in aclient.generate_with_retry("Hi", streaming=True):
            pass
    assert len(adc_env.state.requests_for(STREAM)) == 1
    assert aclient.rate_limiter.in_flight == 0


async def test_async_429_after_text_slows_down_the_limiter(adc_env, aclient):
    adc_env.state.add_fault(429, quota="per_minute", retry_delay=30, stream_error_after_chunks=2)
    with pytest.raises(StreamInterruptedError) as info:
        async for _ in aclient.generate_with_retry("Story [[words=120]]", streaming=True):
            pass
    assert info.value.quota.retry_delay == 30
    assert aclient.rate_limiter.headroom() == 0
    assert aclient.rate_limiter.in_flight == 0
