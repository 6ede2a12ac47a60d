"""Which failures are retried, how often, how long we wait, and what the caller sees."""

from __future__ import annotations

import time

import pytest

from greycloud import GreyCloudClient, GreyCloudConfig
from greycloud.errors import (
    APICallError,
    AuthenticationError,
    PermissionDeniedError,
    RetriesExhaustedError,
    StreamInterruptedError,
)
from greycloud.retry import RetryPolicy, retry_after_seconds
from tests.helpers import FAST_RETRY, PROMPTLY, statuses


@pytest.fixture
def client(adc_env):
    with GreyCloudClient(retry_policy=FAST_RETRY) as client:
        yield client


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_transient_statuses_are_retried(client, adc_env, status):
    adc_env.state.add_fault(status, times=2)
    response = client.generate_with_retry("Hi", max_retries=3)
    assert response.text
    assert statuses(adc_env, "generateContent") == [status, status, 200]


@pytest.mark.parametrize("status", [400, 404, 409, 422])
def test_client_errors_fail_at_once_with_the_api_message(client, adc_env, status):
    adc_env.state.add_fault(status, message="the request is wrong in a specific way")
    with pytest.raises(APICallError) as error:
        client.generate_with_retry("Hi", max_retries=5)
    assert error.value.code == status
    assert "the request is wrong in a specific way" in str(error.value)
    assert statuses(adc_env, "generateContent") == [status]


def test_retries_run_out(client, adc_env):
    adc_env.state.add_fault(503, times=None)
    with pytest.raises(RetriesExhaustedError) as error:
        client.generate_with_retry("Hi", max_retries=2)
    assert error.value.attempts == 3
    assert "3 attempt(s)" in str(error.value)
    assert statuses(adc_env, "generateContent") == [503, 503, 503]


def test_generate_content_makes_one_attempt(client, adc_env):
    adc_env.state.add_fault(503)
    with pytest.raises(RetriesExhaustedError):
        client.generate_content("Hi")
    assert len(adc_env.state.requests_for("generateContent")) == 1


def test_retry_after_is_honoured(adc_env):
    adc_env.state.add_fault(429, retry_after=0.6)
    client = GreyCloudClient(retry_policy=RetryPolicy(initial_delay=0.01, max_delay=5))
    client.generate_with_retry("Hi")
    first, second = adc_env.state.requests_for("generateContent")
    assert second.time - first.end_time >= 0.55


def test_retry_after_parsing():
    class Response:
        def __init__(self, value):
            self.headers = {"Retry-After": value}

    class Failure(Exception):
        def __init__(self, value):
            self.response = Response(value)

    assert retry_after_seconds(Failure("2.5")) == 2.5
    assert retry_after_seconds(Failure("Wed, 21 Oct 2015 07:28:00 GMT")) == 0.0
    assert retry_after_seconds(Failure("soon")) is None


def test_backoff_grows_and_is_capped():
    policy = RetryPolicy(initial_delay=1.0, max_delay=8.0)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        delays = [policy.backoff(attempt) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jitter


def test_dropped_connection_is_retried(client, adc_env):
    adc_env.state.add_fault(drop_connection=True)
    assert client.generate_with_retry("Hi").text
    assert len(adc_env.state.requests_for("generateContent")) == 2


def test_timeout_is_retried(adc_env):
    adc_env.state.add_fault(200, delay=10.0)
    config = GreyCloudConfig(request_timeout=1.0)
    client = GreyCloudClient(config, retry_policy=FAST_RETRY)
    started = time.monotonic()
    assert client.generate_with_retry("Hi").text
    # ~1 s (the timeout, then a quick retry); waiting for the slow answer would take 10 s
    assert time.monotonic() - started < PROMPTLY
    assert len(adc_env.state.requests_for("generateContent")) == 2


def test_401_refreshes_credentials_and_retries(client, adc_env):
    client.generate_content("warm up")
    tokens_before = [r for r in adc_env.state.requests if r.path == "/token"]
    adc_env.state.expire_all_tokens()
    assert client.generate_with_retry("Hi").text
    assert statuses(adc_env, "generateContent") == [200, 401, 200]
    tokens_after = [r for r in adc_env.state.requests if r.path == "/token"]
    assert len(tokens_after) == len(tokens_before) + 1


def test_401_is_not_retried_twice(client, adc_env):
    adc_env.state.add_fault(401, times=None)
    with pytest.raises(AuthenticationError, match="gcloud auth application-default login"):
        client.generate_with_retry("Hi")
    assert statuses(adc_env, "generateContent") == [401, 401]


def test_401_with_reauth_disabled_fails_at_once(adc_env):
    adc_env.state.add_fault(401)
    client = GreyCloudClient(GreyCloudConfig(auto_reauth=False), retry_policy=FAST_RETRY)
    with pytest.raises(AuthenticationError):
        client.generate_with_retry("Hi")
    assert statuses(adc_env, "generateContent") == [401]


def test_403_fails_with_the_iam_hint(client, adc_env):
    adc_env.state.add_fault(403, message="Permission 'aiplatform.endpoints.predict' denied")
    with pytest.raises(PermissionDeniedError) as error:
        client.generate_with_retry("Hi")
    assert "roles/aiplatform.user" in str(error.value)
    assert "aiplatform.endpoints.predict" in str(error.value)
    assert statuses(adc_env, "generateContent") == [403]


def test_stream_is_retried_before_the_first_chunk(client, adc_env):
    prompt = "Story [[words=60]]"
    expected = client.generate_content(prompt).text
    adc_env.state.add_fault(503, action="streamGenerateContent")
    adc_env.state.add_fault(action="streamGenerateContent", drop_connection=True)
    text = "".join(client.generate_with_retry(prompt, streaming=True))
    assert text == expected
    assert len(adc_env.state.requests_for("streamGenerateContent")) == 3


def test_stream_cut_after_text_never_repeats_it(client, adc_env):
    prompt = "Story [[words=120]]"
    expected = client.generate_content(prompt).text
    adc_env.state.add_fault(action="streamGenerateContent", cut_after_chunks=3)
    received: list[str] = []
    with pytest.raises(StreamInterruptedError) as error:
        for chunk in client.generate_with_retry(prompt, streaming=True):
            received.append(chunk)
    assert len(received) == 3
    assert error.value.partial_text == "".join(received)
    assert expected.startswith(error.value.partial_text)
    assert len(adc_env.state.requests_for("streamGenerateContent")) == 1


def test_closing_a_stream_early_is_clean(client, adc_env):
    stream = client.generate_content_stream("Long [[words=300]]")
    first = next(stream)
    stream.close()
    assert first and stream.text == first
