"""The emulator's answers to tools and schemas, over raw HTTP (the REST shapes)."""

from __future__ import annotations

import json

import pytest
import requests

from tests.test_emulator import auth, body, model_url, sse_events

WEATHER = {
    "name": "get_weather",
    "parameters": {
        "type": "OBJECT",
        "properties": {
            "city": {"type": "STRING"},
            "unit": {"type": "STRING", "enum": ["C", "F"]},
        },
        "required": ["city"],
    },
}
TIME = {"name": "get_time", "parametersJsonSchema": {"type": "object", "properties": {}}}


def _generate(emulator, request: dict) -> dict:
    response = requests.post(
        model_url(emulator, "generateContent"), json=request, headers=auth(emulator)
    )
    assert response.status_code == 200, response.text
    return response.json()["candidates"][0]


def _tools(*declarations: dict) -> list[dict]:
    return [{"functionDeclarations": list(declarations)}]


def test_a_matching_declaration_is_called_with_schema_args(emulator):
    candidate = _generate(
        emulator, body("What time is it, and the weather in Oslo?", tools=_tools(TIME, WEATHER))
    )
    [part] = candidate["content"]["parts"]
    assert part["functionCall"]["name"] == "get_time"  # both match: the first declared
    candidate = _generate(emulator, body("The weather in Oslo?", tools=_tools(TIME, WEATHER)))
    call = candidate["content"]["parts"][0]["functionCall"]
    assert call["name"] == "get_weather"
    assert call["args"]["city"] == "Oslo" and call["args"]["unit"] in ("C", "F")


@pytest.mark.parametrize(
    ("tool_config", "expected"),
    [
        ({"functionCallingConfig": {"mode": "NONE"}}, None),
        ({"functionCallingConfig": {"mode": "ANY"}}, "get_time"),
        (
            {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}},
            "get_weather",
        ),
    ],
    ids=["none", "any", "allowed-names"],
)
def test_tool_config_modes(emulator, tool_config, expected):
    request = body("Hello there", tools=_tools(TIME, WEATHER), toolConfig=tool_config)
    part = _generate(emulator, request)["content"]["parts"][0]
    assert (part.get("functionCall") or {}).get("name") == expected


def test_no_matching_function_gives_text(emulator):
    part = _generate(emulator, body("Hello there", tools=_tools(WEATHER)))["content"]["parts"][0]
    assert part["text"].startswith("Echo: Hello there.")


def test_function_responses_are_quoted(emulator):
    request = {
        "contents": [
            {"role": "user", "parts": [{"text": "Weather in Oslo?"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {}}}]},
            {
                "role": "user",
                "parts": [
                    {"functionResponse": {"name": "get_weather", "response": {"sky": "grey"}}}
                ],
            },
        ],
        "tools": _tools(WEATHER),
    }
    text = _generate(emulator, request)["content"]["parts"][0]["text"]
    assert text.startswith('Function get_weather returned {"sky": "grey"}. Echo:')


def test_a_streamed_call_comes_first_and_grounding_last(emulator):
    url = model_url(emulator, "streamGenerateContent") + "?alt=sse"
    headers = auth(emulator)
    call = sse_events(
        requests.post(
            url, json=body("Weather in Oslo?", tools=_tools(WEATHER)), headers=headers
        ).text
    )
    assert call[0]["candidates"][0]["content"]["parts"][0]["functionCall"]["name"] == (
        "get_weather"
    )
    grounded = sse_events(
        requests.post(
            url, json=body("News [[words=40]]", tools=[{"googleSearch": {}}]), headers=headers
        ).text
    )
    assert len(grounded) > 1
    assert "groundingMetadata" not in grounded[0]["candidates"][0]
    assert grounded[-1]["candidates"][0]["groundingMetadata"]["webSearchQueries"] == ["News"]


def test_code_execution_parts_precede_the_text(emulator):
    parts = _generate(emulator, body("Compute", tools=[{"codeExecution": {}}]))["content"]["parts"]
    assert [next(iter(p)) for p in parts] == ["executableCode", "codeExecutionResult", "text"]


def test_json_schema_refs_consts_and_formats(emulator):
    schema = {
        "type": "object",
        "properties": {
            "when": {"type": "string", "format": "date-time"},
            "kind": {"const": "event"},
            "place": {"$ref": "#/$defs/Place"},
            "note": {"anyOf": [{"type": "null"}, {"type": "integer", "minimum": 5, "maximum": 5}]},
        },
        "$defs": {"Place": {"type": "object", "properties": {"lat": {"type": "number"}}}},
    }
    config = {"responseMimeType": "application/json", "responseJsonSchema": schema}
    text = _generate(emulator, body("An event", generationConfig=config))["content"]["parts"][0]
    value = json.loads(text["text"])
    assert value["when"] == "2026-01-02T03:04:05Z" and value["kind"] == "event"
    assert isinstance(value["place"]["lat"], float) and value["note"] == 5
