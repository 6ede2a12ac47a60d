"""Every use of google-genai's private API, fenced in one module.

GreyCloud reaches past google-genai's public API only here, one section per
use. Each section lists its private names in a ``*_PRIVATE_APIS`` table, and
``tests/test_genai_compat*.py`` have a contract test for each: a google-genai
upgrade that moves one fails that test with a message naming what moved and
what uses it, instead of breaking at run time.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from google import genai
    from google.genai import types

# -- local tokenizer: model tables and download cache (used by greycloud_lsp) ------
# google-genai's public ``LocalTokenizer(model_name)`` downloads its vocabulary on
# first use and offers no "load this file" option. To count offline we need its
# model -> vocabulary tables and where it keeps downloaded files, which live in
# the private loader module. Contract tests: tests/test_genai_compat_tokenizer.py.

TOKENIZER_LOADER = "google.genai._local_tokenizer_loader"
SDK_TOKENIZER_CACHE_DIR = "vertexai_tokenizer_model"

TOKENIZER_PRIVATE_APIS: tuple[tuple[str, str, str], ...] = (
    (TOKENIZER_LOADER, "_GEMINI_MODELS_TO_TOKENIZER_NAMES", "models LocalTokenizer knows"),
    (TOKENIZER_LOADER, "_GEMINI_STABLE_MODELS_TO_TOKENIZER_NAMES", "models LocalTokenizer knows"),
    (TOKENIZER_LOADER, "_GEMINI_MODELS_TO_HUGGINGFACE_TOKENIZER_NAMES", "gemma4 models"),
    (TOKENIZER_LOADER, "get_tokenizer_name", "a model's vocabulary"),
    (TOKENIZER_LOADER, "_TOKENIZERS", "SentencePiece download URL and SHA-256"),
    (TOKENIZER_LOADER, "GEMMA_TOKENIZER_TO_MODEL_NAMES", "gemma4 Hugging Face repository"),
    (TOKENIZER_LOADER, "_load", f"download cache $TMPDIR/{SDK_TOKENIZER_CACHE_DIR}/sha1(url)"),
)
"""(module, attribute path, what GreyCloud uses it for) for each private tokenizer use."""


@dataclass(frozen=True)
class SentencePieceSource:
    """Where google-genai downloads a SentencePiece vocabulary, and its SHA-256."""

    url: str
    sha256: str

    @property
    def cache_path(self) -> str:
        """The file google-genai reads before downloading (``$TMPDIR/...``)."""
        name = hashlib.sha1(self.url.encode()).hexdigest()
        return os.path.join(tempfile.gettempdir(), SDK_TOKENIZER_CACHE_DIR, name)


def _loader() -> Any:
    """The private loader module (it imports sentencepiece: ImportError without it)."""
    return importlib.import_module(TOKENIZER_LOADER)


def sdk_tokenizer_models() -> dict[str, str]:
    """Every model the installed ``LocalTokenizer`` knows, with its vocabulary name
    (``gemma3``: SentencePiece; ``gemma4``: Hugging Face ``tokenizer.json``)."""
    loader = _loader()
    models: dict[str, str] = {}
    for table in (
        "_GEMINI_MODELS_TO_TOKENIZER_NAMES",
        "_GEMINI_STABLE_MODELS_TO_TOKENIZER_NAMES",
        "_GEMINI_MODELS_TO_HUGGINGFACE_TOKENIZER_NAMES",
    ):
        models.update(getattr(loader, table, {}))
    return models


def sdk_tokenizer_name(model: str) -> str | None:
    """The vocabulary google-genai uses for ``model``, or None if it knows none."""
    try:
        return str(_loader().get_tokenizer_name(model))
    except ValueError:
        return None


def sentencepiece_source(tokenizer: str) -> SentencePieceSource | None:
    """Download URL and hash of a SentencePiece vocabulary (None: not SentencePiece)."""
    config = getattr(_loader(), "_TOKENIZERS", {}).get(tokenizer)
    if config is None:
        return None
    return SentencePieceSource(url=config.model_url, sha256=config.model_hash)


def huggingface_repo(tokenizer: str) -> str | None:
    """The Hugging Face repository google-genai loads a vocabulary from with
    ``transformers`` (gemma4 and later), or None."""
    table = getattr(_loader(), "GEMMA_TOKENIZER_TO_MODEL_NAMES", {})
    repo = table.get(tokenizer)
    return str(repo) if repo else None


# -- batch: request and response conversion (used by greycloud.batch) ----------

BATCH_PRIVATE_APIS: tuple[tuple[str, str, str], ...] = (
    ("google.genai.types", "_GenerateContentParameters", "batch request conversion"),
    ("google.genai.models", "_GenerateContentParameters_to_vertex", "batch request conversion"),
    ("google.genai._common", "convert_to_dict", "batch request conversion"),
    ("google.genai._common", "encode_unserializable_types", "batch request conversion"),
    ("google.genai.models", "_GenerateContentResponse_from_vertex", "batch result parsing"),
    ("google.genai.types", "GenerateContentResponse._from_response", "batch result parsing"),
    ("google.genai.client", "Client._api_client", "batch request conversion"),
)
"""(module, attribute path, what GreyCloud uses it for) for each private batch use."""


def api_client(client: genai.Client) -> Any:
    """The `BaseApiClient` behind ``client`` (the converters below need it)."""
    return client._api_client


def vertex_request_body(
    api_client: Any,
    contents: Any,
    config: types.GenerateContentConfig | None,
) -> dict[str, Any]:
    """``contents`` and ``config`` as a Vertex REST ``GenerateContentRequest`` dict.

    The SDK's own converter, so every `GenerateContentConfig` field (system
    instruction, safety settings, thinking config, tools...) is written exactly
    as ``generate_content`` would send it. The model is not part of the body.
    """
    from google.genai import _common, types
    from google.genai import models as genai_models

    params = types._GenerateContentParameters(model="placeholder", contents=contents, config=config)
    body = genai_models._GenerateContentParameters_to_vertex(api_client, params, None, params)
    for key in [k for k in body if k.startswith("_")] + ["config"]:
        body.pop(key, None)
    return _common.encode_unserializable_types(_common.convert_to_dict(body))


def response_from_vertex(value: Mapping[str, Any]) -> types.GenerateContentResponse:
    """A `GenerateContentResponse` from a Vertex REST response dict (a batch output line)."""
    from google.genai import models as genai_models
    from google.genai import types

    converted = genai_models._GenerateContentResponse_from_vertex(dict(value))
    return types.GenerateContentResponse._from_response(response=converted, kwargs={})


# -- request URLs: where google-genai sends a call (used by tests and diagnostics) --
# google-genai picks the host from the location (regional, ``global``, or the
# multi-regions ``us`` / ``eu`` on ``.rep.googleapis.com``) and offers no public
# way to ask which URL a call would go to without sending it.

URL_PRIVATE_APIS: tuple[tuple[str, str, str], ...] = (
    ("google.genai.client", "Client._api_client", "the URL a call is sent to"),
    ("google.genai._api_client", "BaseApiClient._build_request", "the URL a call is sent to"),
)
"""(module, attribute path, what GreyCloud uses it for) for each private URL use."""


def request_url(client: genai.Client, path: str) -> str:
    """The URL google-genai would POST ``path`` (e.g. ``publishers/google/models/M:embedContent``)
    to, with the client's host, API version, project and location; nothing is sent."""
    request = api_client(client)._build_request("post", path, {})
    return str(request.url)
