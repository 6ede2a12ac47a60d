"""A GreyCloudError made from an API answer keeps Google's code, status and message,
and the google-genai APIError as its cause: both clients, bodies shaped like Google's."""

from __future__ import annotations

import asyncio

import pytest
from google.genai import errors as genai_errors

from greycloud import GreyCloudAsyncClient, GreyCloudClient
from greycloud.emulator.errors import quota_error
from greycloud.errors import (
    APICallError,
    GreyCloudError,
    PermissionDeniedError,
    RetriesExhaustedError,
    StreamInterruptedError,
)
from tests.helpers import FAST_RETRY

MODEL = "gemini-2.5-flash"
RESOURCE = f"projects/emulator-project/locations/us-central1/publishers/google/models/{MODEL}"
QUOTA_MESSAGE, _ = quota_error("per_minute", limit=60, model=MODEL, retry_delay=0.01)

CASES = [
    (400, "INVALID_ARGUMENT", "Request contains an invalid argument.", APICallError),
    (
        403,
        "PERMISSION_DENIED",
        f"Permission 'aiplatform.endpoints.predict' denied on resource "
        f"'//aiplatform.googleapis.com/{RESOURCE}' (or it may not exist).",
        PermissionDeniedError,
    ),
    (
        404,
        "NOT_FOUND",
        f"Publisher Model `{RESOURCE}` was not found or your project does not have access "
        "to it. Please ensure you are using a valid model version.",
        APICallError,
    ),
    (429, "RESOURCE_EXHAUSTED", QUOTA_MESSAGE, RetriesExhaustedError),
    (500, "INTERNAL", "Internal error encountered.", RetriesExhaustedError),
]


def fail_with(emulator, code: int, message: str, times: int = 1) -> None:
    if code == 429:
        emulator.state.add_fault(429, quota="per_minute", retry_delay=0.01, times=times)
    else:
        emulator.state.add_fault(code, message=message, times=times)


def generate(kind: str, max_retries: int = 0):
    if kind == "sync":
        with GreyCloudClient(retry_policy=FAST_RETRY) as client:
            return client.generate_with_retry("Hello", max_retries=max_retries, model=MODEL)

    async def run():
        async with GreyCloudAsyncClient(retry_policy=FAST_RETRY) as client:
            return await client.generate_with_retry("Hello", max_retries=max_retries, model=MODEL)

    return asyncio.run(run())


def check(error: GreyCloudError, code: int, status: str, message: str) -> None:
    assert (error.code, error.status, error.message) == (code, status, message)
    cause = error.__cause__
    assert isinstance(cause, genai_errors.APIError)
    assert (cause.code, cause.status, cause.message) == (code, status, message)


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize(("code", "status", "message", "kind_of_error"), CASES)
def test_error_keeps_code_status_message_and_cause(
    adc_env, kind, code, status, message, kind_of_error
):
    fail_with(adc_env, code, message)
    with pytest.raises(kind_of_error) as info:
        generate(kind)
    check(info.value, code, status, message)
    body = adc_env.state.requests[-1]
    assert body.status == code


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_after_retries_the_last_answer_is_kept(adc_env, kind):
    fail_with(adc_env, 500, "Internal error encountered.", times=3)
    with pytest.raises(RetriesExhaustedError) as info:
        generate(kind, max_retries=2)
    assert info.value.attempts == 3
    check(info.value, 500, "INTERNAL", "Internal error encountered.")
    assert info.value.last_error is info.value.__cause__


def test_errors_not_from_the_api_have_no_code():
    error = GreyCloudError("local problem")
    assert (error.code, error.status, error.message) == (None, None, None)


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_stream_broken_by_googles_error_keeps_it(adc_env, kind):
    message = "Internal error encountered."
    adc_env.state.add_fault(500, stream_error_after_chunks=1, message=message)
    received: list[str] = []
    with pytest.raises(StreamInterruptedError) as info:
        if kind == "sync":
            with GreyCloudClient(retry_policy=FAST_RETRY) as client:
                for chunk in client.generate_content_stream("Hello [[words=40]]", model=MODEL):
                    received.append(chunk)
        else:

            async def run() -> None:
                async with GreyCloudAsyncClient(retry_policy=FAST_RETRY) as client:
                    stream = client.generate_content_stream("Hello [[words=40]]", model=MODEL)
                    async for chunk in stream:
                        received.append(chunk)

            asyncio.run(run())
    assert received and info.value.partial_text == "".join(received)
    check(info.value, 500, "INTERNAL", message)
