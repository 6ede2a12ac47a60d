"""Tests of the Vertex AI emulator over real HTTP (requests and google-genai)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Literal

import aiohttp
import httpx2
import pytest
import requests
from google import genai
from google.auth import exceptions as auth_exceptions
from google.auth import impersonated_credentials
from google.auth.transport.requests import Request as AuthRequest
from google.genai import errors, types
from google.genai.client import AsyncClient
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account
from pydantic import BaseModel

from greycloud.emulator import (
    DEFAULT_API_KEY,
    DEFAULT_CLIENT_EMAIL,
    EmulatorServer,
    EmulatorState,
    count_tokens,
    public_key_pem,
    write_service_account_key,
)
from greycloud.emulator.text import split_chunks, truncate_tokens
from tests.helpers import NO_HANG

MODEL = "gemini-2.5-flash"
PROJECT = "emulator-project"
LOCATION = "us-central1"
SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
TARGET_SA = "target@emulator-project.iam.gserviceaccount.com"


def model_url(emulator: EmulatorServer, action: str, model: str = MODEL) -> str:
    """Regional v1beta1 URL of a model action."""
    return (
        f"{emulator.url}v1beta1/projects/{PROJECT}/locations/{LOCATION}"
        f"/publishers/google/models/{model}:{action}"
    )


def body(text: str = "Tell me about clouds", **extra: Any) -> dict[str, Any]:
    """A minimal generate request body."""
    return {"contents": [{"role": "user", "parts": [{"text": text}]}], **extra}


def auth(emulator: EmulatorServer) -> dict[str, str]:
    """Headers with a freshly issued bearer token."""
    return {"Authorization": f"Bearer {emulator.state.issue_token()}"}


def sse_events(raw: str) -> list[dict[str, Any]]:
    """Parse ``data:`` events from an SSE body."""
    return [json.loads(line[6:]) for line in raw.splitlines() if line.startswith("data: ")]


def sa_credentials(key_file: Path) -> service_account.Credentials:
    """Real google-auth service-account credentials from a key file."""
    return service_account.Credentials.from_service_account_file(str(key_file), scopes=SCOPES)


def vertex_client(emulator: EmulatorServer, credentials: Any, **options: Any) -> genai.Client:
    """A real google-genai Vertex client pointed at the emulator."""
    return genai.Client(
        vertexai=True,
        project=PROJECT,
        location=LOCATION,
        credentials=credentials,
        http_options=types.HttpOptions(base_url=emulator.url, **options),
    )


@pytest.fixture
def client(emulator: EmulatorServer, sa_key_file: Path) -> Iterator[genai.Client]:
    """google-genai client authenticated through the emulator's token endpoint.

    ``retry_options`` with one attempt disables the SDK's implicit async retry
    (a 1-10 s sleep) after connection errors.
    """
    retry = types.HttpRetryOptions(attempts=1)
    client = vertex_client(emulator, sa_credentials(sa_key_file), retry_options=retry)
    yield client
    client.close()


@pytest.fixture
async def aclient(client: genai.Client) -> AsyncIterator[AsyncClient]:
    """The async side of ``client``, closed after the test."""
    yield client.aio
    await client.aio.aclose()


# -- text helpers ---------------------------------------------------------------


def test_tokenizer_counts_words_and_punctuation() -> None:
    assert count_tokens("Hello, world!") == 4
    assert count_tokens("") == 0
    assert truncate_tokens("a b, c d", 3) == "a b,"


def test_split_chunks_rejoin_exactly() -> None:
    text = "Echo: one two.  Three four, five six seven!"
    for size in (1, 2, 3, 100):
        assert "".join(split_chunks(text, size)) == text


# -- raw HTTP -------------------------------------------------------------------


def test_generate_is_deterministic(emulator: EmulatorServer) -> None:
    headers = auth(emulator)
    first = requests.post(model_url(emulator, "generateContent"), json=body(), headers=headers)
    second = requests.post(model_url(emulator, "generateContent"), json=body(), headers=headers)
    assert first.status_code == 200
    payload = first.json()
    text = payload["candidates"][0]["content"]["parts"][0]["text"]
    assert text == second.json()["candidates"][0]["content"]["parts"][0]["text"]
    assert text.startswith("Echo: Tell me about clouds.")
    assert 40 <= count_tokens(text) <= 70
    assert payload["candidates"][0]["finishReason"] == "STOP"
    usage = payload["usageMetadata"]
    assert usage["promptTokenCount"] == 4
    assert usage["candidatesTokenCount"] == count_tokens(text)
    assert usage["totalTokenCount"] == 4 + count_tokens(text)
    assert payload["modelVersion"] == MODEL
    log = emulator.state.requests_for("generateContent")
    assert [r.status for r in log] == [200, 200]
    assert log[0].model == MODEL and log[0].project == PROJECT
    assert log[0].body == body()


def test_seed_and_temperature_change_text(emulator: EmulatorServer) -> None:
    headers = auth(emulator)
    url = model_url(emulator, "generateContent")
    texts = {
        requests.post(url, json=body(generationConfig=cfg), headers=headers).json()["candidates"][
            0
        ]["content"]["parts"][0]["text"]
        for cfg in ({}, {"seed": 1}, {"temperature": 0.2})
    }
    assert len(texts) == 3


def test_stream_concatenation_equals_generate(emulator: EmulatorServer) -> None:
    headers = auth(emulator)
    request = body("Write a long story [[words=120]]")
    full = requests.post(model_url(emulator, "generateContent"), json=request, headers=headers)
    stream = requests.post(
        model_url(emulator, "streamGenerateContent") + "?alt=sse", json=request, headers=headers
    )
    assert stream.headers["Content-Type"].startswith("text/event-stream")
    events = sse_events(stream.text)
    assert len(events) > 5
    joined = "".join(e["candidates"][0]["content"]["parts"][0]["text"] for e in events)
    assert joined == full.json()["candidates"][0]["content"]["parts"][0]["text"]
    assert all("finishReason" not in e["candidates"][0] for e in events[:-1])
    assert events[-1]["candidates"][0]["finishReason"] == "STOP"
    assert events[-1]["usageMetadata"] == full.json()["usageMetadata"]
    assert emulator.state.requests_for("streamGenerateContent")[0].first_chunk_time is not None


def test_words_directive_and_max_output_tokens(emulator: EmulatorServer) -> None:
    headers = auth(emulator)
    url = model_url(emulator, "generateContent")
    long = requests.post(url, json=body("go [[words=500]]"), headers=headers).json()
    assert count_tokens(long["candidates"][0]["content"]["parts"][0]["text"]) > 500
    capped = requests.post(
        url,
        json=body("go [[words=500]]", generationConfig={"maxOutputTokens": 10}),
        headers=headers,
    ).json()
    assert capped["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert capped["usageMetadata"]["candidatesTokenCount"] == 10


def test_count_tokens(emulator: EmulatorServer) -> None:
    request = body("Hello, world!", systemInstruction={"parts": [{"text": "Be brief"}]})
    request["contents"][0]["parts"].append(
        {"fileData": {"fileUri": "gs://b/x.png", "mimeType": "image/png"}}
    )
    response = requests.post(
        model_url(emulator, "countTokens"), json=request, headers=auth(emulator)
    )
    assert response.json() == {"totalTokens": 4 + 2 + 258, "totalBillableCharacters": 19}


def test_v1_path_and_full_model_resource(emulator: EmulatorServer) -> None:
    url = model_url(emulator, "generateContent").replace("/v1beta1/", "/v1/")
    assert requests.post(url, json=body(), headers=auth(emulator)).status_code == 200


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (b"{not json", "Invalid JSON"),
        ({}, "contents"),
        ({"contents": []}, "contents"),
        (body(" "), "empty text"),
        (body(cachedContent="c/1", systemInstruction={"parts": [{"text": "x"}]}), "cached"),
        (body(cachedContent="c/1", tools=[{"functionDeclarations": []}]), "cached"),
        (body(generationConfig={"temperature": 2.5}), "temperature"),
        (body(generationConfig={"thinkingConfig": {"thinkingLevel": "low-ish"}}), "thinking"),
    ],
)
def test_invalid_requests_are_400(emulator: EmulatorServer, payload: Any, fragment: str) -> None:
    url = model_url(emulator, "generateContent")
    kwargs = {"data": payload} if isinstance(payload, bytes) else {"json": payload}
    response = requests.post(url, headers=auth(emulator), **kwargs)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert fragment.lower() in error["message"].lower()


def test_valid_thinking_level_accepted(emulator: EmulatorServer) -> None:
    config = {"thinkingConfig": {"thinkingLevel": "LOW"}}
    response = requests.post(
        model_url(emulator, "generateContent"),
        json=body(generationConfig=config),
        headers=auth(emulator),
    )
    assert response.status_code == 200


def test_missing_model_is_404(emulator: EmulatorServer) -> None:
    url = model_url(emulator, "generateContent", model="missing-model")
    response = requests.post(url, json=body(), headers=auth(emulator))
    assert response.status_code == 404
    assert response.json()["error"]["status"] == "NOT_FOUND"


@pytest.mark.parametrize(
    "header", [{}, {"Authorization": "Bearer ya29.bogus"}, {"x-goog-api-key": "wrong"}]
)
def test_unauthenticated_is_401(emulator: EmulatorServer, header: dict[str, str]) -> None:
    response = requests.post(model_url(emulator, "generateContent"), json=body(), headers=header)
    assert response.status_code == 401
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"


def test_expired_and_revoked_tokens_are_401(emulator: EmulatorServer) -> None:
    state = emulator.state
    short = state.issue_token(lifetime=0.05)
    revoked = state.issue_token()
    state.revoke_token(revoked)
    time.sleep(0.1)
    for token in (short, revoked):
        headers = {"Authorization": f"Bearer {token}"}
        response = requests.post(model_url(emulator, "countTokens"), json=body(), headers=headers)
        assert response.status_code == 401


# -- google-auth flows ------------------------------------------------------------


def test_service_account_flow_issues_tokens(emulator: EmulatorServer, sa_key_file: Path) -> None:
    credentials = sa_credentials(sa_key_file)
    credentials.refresh(AuthRequest())
    assert credentials.token.startswith("ya29.emu-")
    assert emulator.state.principal_for(credentials.token) == DEFAULT_CLIENT_EMAIL
    token_request = emulator.state.requests_for("token")[0]
    assert token_request.body["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"


def test_registered_key_signature_is_verified(emulator: EmulatorServer, tmp_path: Path) -> None:
    good = write_service_account_key(tmp_path / "good.json", token_uri=emulator.url + "token")
    other = write_service_account_key(tmp_path / "other.json", token_uri=emulator.url + "token")
    emulator.state.register_service_account(DEFAULT_CLIENT_EMAIL, public_key_pem(good))
    sa_credentials(tmp_path / "good.json").refresh(AuthRequest())
    with pytest.raises(auth_exceptions.RefreshError, match="Invalid JWT Signature"):
        sa_credentials(tmp_path / "other.json").refresh(AuthRequest())
    assert other["client_email"] == DEFAULT_CLIENT_EMAIL


def test_refresh_token_grant(emulator: EmulatorServer) -> None:
    credentials = user_credentials.Credentials(
        token=None,
        refresh_token="1//refresh",
        client_id="cid",
        client_secret="secret",
        token_uri=emulator.url + "token",
    )
    credentials.refresh(AuthRequest())
    assert emulator.state.principal_for(credentials.token) == "user:cid"


def impersonated(
    emulator: EmulatorServer, key_file: Path, target: str = TARGET_SA
) -> impersonated_credentials.Credentials:
    """Real impersonated credentials using the emulator as IAM endpoint."""
    return impersonated_credentials.Credentials(
        source_credentials=sa_credentials(key_file),
        target_principal=target,
        target_scopes=SCOPES,
        iam_endpoint_override=(
            f"{emulator.url}v1/projects/-/serviceAccounts/{target}:generateAccessToken"
        ),
    )


def test_impersonation(emulator: EmulatorServer, sa_key_file: Path) -> None:
    credentials = impersonated(emulator, sa_key_file)
    credentials.refresh(AuthRequest())
    assert credentials.token.startswith("ya29.emu-imp-")
    assert emulator.state.principal_for(credentials.token) == TARGET_SA
    assert credentials.expiry is not None
    client = vertex_client(emulator, credentials)
    assert client.models.generate_content(model=MODEL, contents="hi").text
    assert emulator.state.requests_for("generateContent")[-1].principal == TARGET_SA


def test_denied_impersonation_is_403(emulator: EmulatorServer, sa_key_file: Path) -> None:
    emulator.state.deny_impersonation(TARGET_SA)
    with pytest.raises(auth_exceptions.RefreshError, match=r"iam\.serviceAccounts\.getAccess"):
        impersonated(emulator, sa_key_file).refresh(AuthRequest())
    assert emulator.state.requests_for("generateAccessToken")[-1].status == 403


# -- google-genai ------------------------------------------------------------------


def test_genai_generate_stream_and_count(emulator: EmulatorServer, client: genai.Client) -> None:
    prompt = "Explain streaming [[words=80]]"
    full = client.models.generate_content(model=MODEL, contents=prompt)
    chunks = list(client.models.generate_content_stream(model=MODEL, contents=prompt))
    assert len(chunks) > 3
    assert "".join(c.text or "" for c in chunks) == full.text
    assert chunks[-1].usage_metadata.total_token_count == full.usage_metadata.total_token_count
    counted = client.models.count_tokens(model=MODEL, contents=prompt)
    assert counted.total_tokens == full.usage_metadata.prompt_token_count
    principals = {r.principal for r in emulator.state.requests if r.action != "token"}
    assert principals == {DEFAULT_CLIENT_EMAIL}


async def test_genai_async_generate_and_stream(aclient: AsyncClient) -> None:
    full = await aclient.models.generate_content(model=MODEL, contents="async [[words=50]]")
    stream = await aclient.models.generate_content_stream(
        model=MODEL, contents="async [[words=50]]"
    )
    texts = [chunk.text async for chunk in stream]
    assert "".join(t or "" for t in texts) == full.text


def test_express_mode_api_key(emulator: EmulatorServer) -> None:
    client = genai.Client(
        vertexai=True, api_key=DEFAULT_API_KEY, http_options={"base_url": emulator.url}
    )
    assert client.models.generate_content(model=MODEL, contents="express").text
    record = emulator.state.requests_for("generateContent")[-1]
    assert record.path == f"/v1beta1/publishers/google/models/{MODEL}:generateContent"
    assert record.project is None


def test_genai_401_after_expiry(emulator: EmulatorServer, client: genai.Client) -> None:
    client.models.count_tokens(model=MODEL, contents="x")
    emulator.state.expire_all_tokens()
    with pytest.raises(errors.ClientError) as info:
        client.models.count_tokens(model=MODEL, contents="x")
    assert info.value.code == 401
    assert info.value.status == "UNAUTHENTICATED"


def test_genai_404_and_400(client: genai.Client) -> None:
    with pytest.raises(errors.ClientError) as missing:
        client.models.generate_content(model="missing-model", contents="x")
    assert missing.value.code == 404
    with pytest.raises(errors.ClientError) as invalid:
        client.models.generate_content(
            model=MODEL, contents="x", config=types.GenerateContentConfig(temperature=3.0)
        )
    assert invalid.value.code == 400
    assert "temperature" in (invalid.value.message or "")


# -- quota ----------------------------------------------------------------------------


def test_quota_rpm(emulator: EmulatorServer, client: genai.Client) -> None:
    emulator.state.set_quota(rpm=2)
    client.models.count_tokens(model=MODEL, contents="a")
    client.models.generate_content(model=MODEL, contents="b")
    with pytest.raises(errors.ClientError) as info:
        client.models.generate_content(model=MODEL, contents="c")
    assert info.value.code == 429
    assert info.value.status == "RESOURCE_EXHAUSTED"
    assert "retry-after" not in info.value.response.headers


def test_quota_tpm_and_window(emulator: EmulatorServer, client: genai.Client) -> None:
    emulator.state.set_quota(tpm=100, window_seconds=0.5)
    emulator.state.configure(quota_retry_after=7)
    client.models.generate_content(model=MODEL, contents="one " * 60)
    with pytest.raises(errors.ClientError) as info:
        client.models.generate_content(model=MODEL, contents="two " * 50)
    assert info.value.code == 429
    assert info.value.response.headers["retry-after"] == "7"
    time.sleep(0.6)
    client.models.generate_content(model=MODEL, contents="three")


# -- faults ---------------------------------------------------------------------------


def test_fault_status_and_retry_after_sync(emulator: EmulatorServer, client: genai.Client) -> None:
    emulator.state.add_fault(503, retry_after=2, message="try later")
    with pytest.raises(errors.ServerError) as info:
        client.models.generate_content(model=MODEL, contents="x")
    error = info.value
    assert (error.code, error.status, error.message) == (503, "UNAVAILABLE", "try later")
    assert isinstance(error.response, httpx2.Response)
    assert error.response.headers["Retry-After"] == "2"
    assert client.models.generate_content(model=MODEL, contents="x").text
    assert [r.fault for r in emulator.state.requests_for("generateContent")] == [
        "status=503",
        None,
    ]


async def test_fault_status_and_retry_after_async(
    emulator: EmulatorServer, aclient: AsyncClient
) -> None:
    emulator.state.add_fault(429, action="streamGenerateContent", retry_after=1.5)
    with pytest.raises(errors.ClientError) as info:
        stream = await aclient.models.generate_content_stream(model=MODEL, contents="x")
        async for _ in stream:
            pass
    assert info.value.code == 429
    assert isinstance(info.value.response, aiohttp.ClientResponse)
    assert info.value.response.headers["Retry-After"] == "1.5"
    emulator.state.add_fault(500)
    with pytest.raises(errors.ServerError) as server:
        await aclient.models.generate_content(model=MODEL, contents="x")
    assert server.value.status == "INTERNAL"
    assert "Retry-After" not in server.value.response.headers


def test_fault_action_filter_and_times(emulator: EmulatorServer, client: genai.Client) -> None:
    emulator.state.add_fault(500, action="countTokens", times=2)
    assert client.models.generate_content(model=MODEL, contents="x").text
    for _ in range(2):
        with pytest.raises(errors.ServerError):
            client.models.count_tokens(model=MODEL, contents="x")
    assert client.models.count_tokens(model=MODEL, contents="x").total_tokens == 1


def test_drop_connection_sync(emulator: EmulatorServer, client: genai.Client) -> None:
    emulator.state.add_fault(drop_connection=True)
    with pytest.raises(httpx2.TransportError):
        client.models.generate_content(model=MODEL, contents="x")
    assert emulator.state.requests_for("generateContent")[-1].fault == "drop_connection"


async def test_drop_connection_async(emulator: EmulatorServer, aclient: AsyncClient) -> None:
    emulator.state.add_fault(drop_connection=True, action="streamGenerateContent")
    with pytest.raises(aiohttp.ClientError):
        stream = await aclient.models.generate_content_stream(model=MODEL, contents="x")
        async for _ in stream:
            pass


def test_cut_after_chunks(emulator: EmulatorServer, client: genai.Client) -> None:
    emulator.state.add_fault(cut_after_chunks=2)
    received: list[str] = []
    with pytest.raises(httpx2.TransportError):
        for chunk in client.models.generate_content_stream(model=MODEL, contents="[[words=90]]"):
            received.append(chunk.text or "")
    assert len(received) == 2


async def test_cut_after_chunks_async(emulator: EmulatorServer, aclient: AsyncClient) -> None:
    emulator.state.add_fault(cut_after_chunks=1)
    received: list[str] = []
    with pytest.raises(aiohttp.ClientPayloadError):
        stream = await aclient.models.generate_content_stream(model=MODEL, contents="[[words=90]]")
        async for chunk in stream:
            received.append(chunk.text or "")
    assert len(received) == 1


def test_delay_fault_times_out(emulator: EmulatorServer, sa_key_file: Path) -> None:
    emulator.state.add_fault(None, delay=1.0)
    client = vertex_client(emulator, sa_credentials(sa_key_file), timeout=300)
    with pytest.raises(httpx2.TimeoutException):
        client.models.generate_content(model=MODEL, contents="slow")


def test_latency_and_chunk_delay(emulator: EmulatorServer) -> None:
    emulator.state.configure(latency=0.2, stream_chunk_delay=0.05, stream_chunk_tokens=4)
    started = time.monotonic()
    response = requests.post(
        model_url(emulator, "streamGenerateContent") + "?alt=sse",
        json=body("x [[words=12]]"),
        headers=auth(emulator),
    )
    elapsed = time.monotonic() - started
    events = sse_events(response.text)
    assert elapsed >= 0.2 + 0.05 * (len(events) - 1) - 0.01
    record = emulator.state.requests_for("streamGenerateContent")[-1]
    assert record.first_chunk_time is not None and record.end_time is not None
    assert record.first_chunk_time - record.time >= 0.19


def test_token_endpoint_fault(emulator: EmulatorServer, sa_key_file: Path) -> None:
    emulator.state.add_fault(400, action="token", message="invalid_grant")
    with pytest.raises(auth_exceptions.RefreshError):
        sa_credentials(sa_key_file).refresh(AuthRequest())


# -- admin API -------------------------------------------------------------------------


def test_admin_api(emulator: EmulatorServer) -> None:
    admin = emulator.url + "_emulator/"
    assert requests.get(admin + "health").json() == {"status": "ok"}
    assert requests.post(admin + "faults", json={"status": 503, "times": 1}).ok
    assert requests.post(admin + "config", json={"stream_chunk_tokens": 3}).ok
    token = requests.post(admin + "tokens", json={"principal": "lsp"}).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    url = model_url(emulator, "generateContent")
    assert requests.post(url, json=body(), headers=headers).status_code == 503
    assert requests.post(url, json=body(), headers=headers).status_code == 200
    assert requests.post(admin + "quota", json={"rpm": 0}).ok
    assert requests.post(url, json=body(), headers=headers).status_code == 429
    log = requests.get(admin + "requests", params={"action": "generateContent"}).json()
    assert [r["status"] for r in log["requests"]] == [503, 200, 429]
    assert log["requests"][1]["principal"] == "lsp"
    assert emulator.state.stream_chunk_tokens == 3
    bad = requests.post(admin + "faults", json={"bogus": 1})
    assert bad.status_code == 400 and "bogus" in bad.json()["error"]["message"]
    assert requests.post(admin + "reset", json={}).ok
    assert emulator.state.requests == [] and emulator.state.quota.rpm is None
    assert requests.post(url, json=body(), headers=headers).status_code == 200


def test_unknown_route_is_google_json(emulator: EmulatorServer) -> None:
    response = requests.get(emulator.url + "v1beta1/nothing")
    assert response.status_code == 404
    assert response.json()["error"]["status"] == "NOT_FOUND"


# -- runner and fixtures -----------------------------------------------------------------


def test_server_lifecycle_and_default_credentials(tmp_path: Path) -> None:
    state = EmulatorState()
    with EmulatorServer(state=state) as server:
        assert server.port > 0 and server.url.endswith(f":{server.port}/")
        env = server.start_default_credentials(tmp_path)
        assert env["GREYCLOUD_ENDPOINT"] == server.url
        info = json.loads(Path(env["GOOGLE_APPLICATION_CREDENTIALS"]).read_text())
        assert info["token_uri"] == server.url + "token"
        credentials = sa_credentials(Path(env["GOOGLE_APPLICATION_CREDENTIALS"]))
        credentials.refresh(AuthRequest())
        assert state.principal_for(credentials.token) == info["client_email"]
    with pytest.raises(requests.ConnectionError):
        requests.get(server.url + "_emulator/health", timeout=2)


def test_adc_env_runs_real_google_auth_default(adc_env: EmulatorServer) -> None:
    import google.auth

    credentials, project = google.auth.default(scopes=SCOPES)
    assert project == "emulator-project"
    credentials.refresh(AuthRequest())
    assert adc_env.state.principal_for(credentials.token) == DEFAULT_CLIENT_EMAIL


def test_fake_gcloud_default_fails() -> None:
    result = subprocess.run(
        ["gcloud", "auth", "print-access-token"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert "fake gcloud: not configured" in result.stderr


def test_fake_gcloud_programmed(fake_gcloud: Any) -> None:
    fake_gcloud.set_access_token("ya29.default")
    fake_gcloud.set_access_token("ya29.imp", impersonate="sa@p.iam.gserviceaccount.com")
    fake_gcloud.set_project("proj-1")

    def run(*args: str) -> str:
        return subprocess.run(
            ["gcloud", *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    assert run("auth", "print-access-token") == "ya29.default"
    assert (
        run(
            "auth",
            "print-access-token",
            "--impersonate-service-account=sa@p.iam.gserviceaccount.com",
        )
        == "ya29.imp"
    )
    assert run("config", "get-value", "project") == "proj-1"
    assert fake_gcloud.calls()[0] == ["auth", "print-access-token"]
    fake_gcloud.hang(5)
    with pytest.raises(subprocess.TimeoutExpired):
        subprocess.run(["gcloud", "version"], capture_output=True, timeout=0.5, check=False)


# -- structured output, resource names, disconnects, CLI runner -------------------------


class Recipe(BaseModel):
    """A schema for JSON-mode tests."""

    name: str
    servings: int
    vegan: bool
    steps: list[str]
    course: Literal["starter", "main", "dessert"]


def test_json_mode_follows_schema(client: genai.Client) -> None:
    config = types.GenerateContentConfig(
        response_mime_type="application/json", response_schema=Recipe
    )
    first = client.models.generate_content(model=MODEL, contents="a recipe", config=config)
    again = client.models.generate_content(model=MODEL, contents="a recipe", config=config)
    assert isinstance(first.parsed, Recipe)
    assert first.text == again.text
    plain = client.models.generate_content(
        model=MODEL,
        contents="anything",
        config=types.GenerateContentConfig(response_mime_type="application/json"),
    )
    assert set(json.loads(plain.text or "")) == {"answer"}


def test_full_model_resource_name_records_short_id(
    emulator: EmulatorServer, client: genai.Client
) -> None:
    resource = f"projects/{PROJECT}/locations/{LOCATION}/publishers/google/models/{MODEL}"
    assert client.models.generate_content(model=resource, contents="x").text
    assert emulator.state.requests_for("generateContent")[-1].model == MODEL


def test_client_disconnect_mid_stream_is_recorded(emulator: EmulatorServer) -> None:
    emulator.state.configure(stream_chunk_delay=0.05, stream_chunk_tokens=2)
    response = requests.post(
        model_url(emulator, "streamGenerateContent") + "?alt=sse",
        json=body("[[words=300]]"),
        headers=auth(emulator),
        stream=True,
    )
    next(response.iter_lines())
    response.close()
    deadline = time.monotonic() + NO_HANG
    record = emulator.state.requests_for("streamGenerateContent")[-1]
    while record.end_time is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert record.status == 499 and record.client_disconnected


def test_admin_registers_service_account(emulator: EmulatorServer, tmp_path: Path) -> None:
    info = write_service_account_key(tmp_path / "k.json", token_uri=emulator.url + "token")
    other = write_service_account_key(tmp_path / "o.json", token_uri=emulator.url + "token")
    payload = {"client_email": info["client_email"], "public_key_pem": public_key_pem(other)}
    assert requests.post(emulator.url + "_emulator/service_accounts", json=payload).ok
    with pytest.raises(auth_exceptions.RefreshError):
        sa_credentials(tmp_path / "k.json").refresh(AuthRequest())


def test_run_forever_prints_url_and_stops_on_sigterm() -> None:
    code = "from greycloud.emulator import run_forever; run_forever('127.0.0.1', 0)"
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = line.rsplit(" ", 1)[-1].strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/")
        assert requests.get(url + "_emulator/health", timeout=5).ok
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
