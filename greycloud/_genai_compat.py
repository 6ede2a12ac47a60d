"""Every use of google-genai's private API, fenced in one module.

GreyCloud reaches past google-genai's public API only here, one section per
use. Each section lists its private names in a ``*_PRIVATE_APIS`` table, and
``tests/test_genai_compat.py`` has a contract test for each: a google-genai
upgrade that moves one fails that test with a message naming what moved and
what uses it, instead of breaking at run time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from google import genai
    from google.genai import types


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
