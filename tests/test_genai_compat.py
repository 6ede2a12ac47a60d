"""Contract tests for google-genai's private API, as fenced in `greycloud._genai_compat`.

Each test names what moved and what GreyCloud uses it for, so an SDK upgrade
that breaks a private use fails here with a message saying what to update.
"""

from __future__ import annotations

import importlib
from importlib.metadata import version

import pytest
from google import genai
from google.auth.credentials import AnonymousCredentials
from google.genai import types

from greycloud import _genai_compat

GENAI_VERSION = version("google-genai")


def _moved(module: str, path: str, purpose: str) -> str:
    return (
        f"google-genai {GENAI_VERSION} has no {module}.{path}, which GreyCloud uses for "
        f"{purpose}: update greycloud/_genai_compat.py to its new name or a public equivalent."
    )


def _vertex_client() -> genai.Client:
    return genai.Client(
        vertexai=True, project="p", location="us-central1", credentials=AnonymousCredentials()
    )


# -- batch: request and response conversion -----------------------------------


@pytest.mark.parametrize(
    ("module", "path", "purpose"),
    _genai_compat.BATCH_PRIVATE_APIS,
    ids=[f"{m}.{p}" for m, p, _ in _genai_compat.BATCH_PRIVATE_APIS],
)
def test_batch_private_names_exist(module, path, purpose):
    owner: object = importlib.import_module(module)
    head, _, attribute = path.rpartition(".")
    if head:
        owner = getattr(owner, head, None)
        assert owner is not None, _moved(module, path, purpose)
    if attribute == "_api_client":  # an instance attribute: look on a client
        owner = _vertex_client()
    assert hasattr(owner, attribute), _moved(module, path, purpose)


def test_batch_request_body_is_what_generate_content_sends():
    config = types.GenerateContentConfig(
        temperature=0.2,
        max_output_tokens=64,
        system_instruction="Be brief.",
        safety_settings=[
            types.SafetySetting(
                category=types.HarmCategory.HARM_CATEGORY_HATE_SPEECH,
                threshold=types.HarmBlockThreshold.BLOCK_ONLY_HIGH,
            )
        ],
        thinking_config=types.ThinkingConfig(thinking_level=types.ThinkingLevel.LOW),
        labels={"team": "x"},
    )
    contents = [types.Content(role="user", parts=[types.Part.from_text(text="Hi")])]
    api_client = _genai_compat.api_client(_vertex_client())
    body = _genai_compat.vertex_request_body(api_client, contents, config)
    purpose = "batch request conversion (_GenerateContentParameters_to_vertex)"
    assert body["contents"] == [{"role": "user", "parts": [{"text": "Hi"}]}], purpose
    assert body["systemInstruction"]["parts"][0]["text"] == "Be brief.", purpose
    assert body["generationConfig"]["temperature"] == 0.2, purpose
    assert body["generationConfig"]["maxOutputTokens"] == 64, purpose
    assert body["safetySettings"] == [
        {"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_ONLY_HIGH"}
    ], purpose
    assert body["labels"] == {"team": "x"}, purpose
    assert not [key for key in body if key.startswith("_") or key == "config"], purpose


def test_batch_response_parsing_reads_a_vertex_output_line():
    line = {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": "Hello there"}]},
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2, "totalTokenCount": 5},
    }
    response = _genai_compat.response_from_vertex(line)
    purpose = "batch result parsing (_GenerateContentResponse_from_vertex, _from_response)"
    assert isinstance(response, types.GenerateContentResponse), purpose
    assert response.text == "Hello there", purpose
    assert response.usage_metadata.total_token_count == 5, purpose
    assert response.candidates[0].finish_reason == types.FinishReason.STOP, purpose


def test_api_client_is_the_vertex_one():
    api_client = _genai_compat.api_client(_vertex_client())
    assert getattr(api_client, "vertexai", None) is True, _moved(
        "google.genai.client", "Client._api_client", "batch request conversion"
    )


# -- request URLs ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "path", "purpose"),
    _genai_compat.URL_PRIVATE_APIS,
    ids=[f"{m}.{p}" for m, p, _ in _genai_compat.URL_PRIVATE_APIS],
)
def test_url_private_names_exist(module, path, purpose):
    owner: object = importlib.import_module(module)
    head, _, attribute = path.rpartition(".")
    owner = getattr(owner, head, None)
    assert owner is not None, _moved(module, path, purpose)
    if attribute == "_api_client":  # an instance attribute: look on a client
        owner = _vertex_client()
    assert hasattr(owner, attribute), _moved(module, path, purpose)


def test_request_url_is_the_clients_regional_url():
    url = _genai_compat.request_url(_vertex_client(), "publishers/google/models/m:generateContent")
    assert url == (
        "https://us-central1-aiplatform.googleapis.com/v1beta1/projects/p/locations/us-central1/"
        "publishers/google/models/m:generateContent"
    ), _moved("google.genai._api_client", "BaseApiClient._build_request", "request URLs")
