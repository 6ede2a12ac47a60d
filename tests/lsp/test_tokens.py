"""Live token counts: estimate at once, exact after the debounce, local tokenizer."""

from __future__ import annotations

import asyncio
import itertools
import random
import string

from lsprotocol import types

from greycloud import GreyCloudAsyncClient
from tests.helpers import NO_HANG
from tests.lsp.lsp_helpers import execute, open_document

TOKENS = "greycloud/tokenCount"
TEXT = "The quick brown fox jumps over the lazy dog.\n" * 40


async def emulator_count(text: str) -> int:
    client = GreyCloudAsyncClient()
    try:
        return await client.count_tokens(text, fallback=False)
    finally:
        await client.aclose()


def count_calls(emulator) -> int:
    return len(emulator.state.requests_for("countTokens"))


def insert(client, uri: str, version: int, line: int, character: int, text: str) -> None:
    position = types.Position(line=line, character=character)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(start=position, end=position), text=text
                )
            ],
        )
    )


async def test_open_publishes_estimate_then_exact(start_session, adc_env, tmp_path):
    client = await start_session(settings={"tokenCount": {"debounceMs": 100}})
    uri = (tmp_path / "a.md").as_uri()
    open_document(client, uri, TEXT)
    rec = client.recorder
    first = await rec.wait_for(TOKENS, lambda n: n["uri"] == uri)
    assert first == {
        "uri": uri,
        "version": 1,
        "tokens": first["tokens"],
        "exact": False,
        "source": "estimate",
    }
    assert first["tokens"] > 0
    exact = await rec.wait_for(TOKENS, lambda n: n["uri"] == uri and n["exact"])
    assert exact["source"] == "api" and exact["version"] == 1
    calls = count_calls(adc_env)
    assert calls == 1
    assert exact["tokens"] == await emulator_count(TEXT)
    latest = await client.protocol.send_request_async(TOKENS, {"textDocument": {"uri": uri}})
    assert latest.tokens == exact["tokens"] and latest.exact is True

    # Identical text in another document is never counted again.
    other = (tmp_path / "b.md").as_uri()
    open_document(client, other, TEXT)
    again = await rec.wait_for(TOKENS, lambda n: n["uri"] == other and n["exact"])
    assert again["tokens"] == exact["tokens"]
    assert count_calls(adc_env) == calls + 1  # only the emulator_count() call above


async def test_burst_of_edits_counts_once(start_session, adc_env, tmp_path):
    client = await start_session(settings={"tokenCount": {"debounceMs": 300}})
    uri = (tmp_path / "burst.md").as_uri()
    open_document(client, uri, "start\n")
    text = "start\n"
    rec = client.recorder
    for version in range(2, 52):
        char = random.choice(string.ascii_letters)
        insert(client, uri, version, 0, 0, char)
        text = char + text
        await asyncio.sleep(0.002)
    final = await rec.wait_for(TOKENS, lambda n: n["exact"] and n["version"] == 51)
    estimates = [n for n in rec.of(TOKENS) if not n["exact"]]
    assert len(estimates) == 51  # one per open/change, at once
    exact = [n for n in rec.of(TOKENS) if n["exact"]]
    assert [n["version"] for n in exact] == [51], "stale versions must be dropped"
    assert count_calls(adc_env) <= 2
    assert final["tokens"] == await emulator_count(text)


async def test_estimate_mode_never_calls_the_api(start_session, adc_env, tmp_path):
    client = await start_session(settings={"tokenCount": {"mode": "estimate", "debounceMs": 10}})
    uri = (tmp_path / "e.md").as_uri()
    open_document(client, uri, TEXT)
    await client.recorder.wait_for(TOKENS, lambda n: n["uri"] == uri)
    await asyncio.sleep(0.3)
    assert all(not n["exact"] for n in client.recorder.of(TOKENS))
    result = await execute(client, "greycloud.countTokens", {"text": "hello"})
    assert result == {"tokens": 2, "exact": False, "source": "estimate"}
    assert count_calls(adc_env) == 0


async def test_local_tokenizer_from_model_file(start_session, adc_env, tmp_path, tiny_model):
    import sentencepiece as spm

    client = await start_session(
        settings={"tokenCount": {"debounceMs": 50, "localModelPath": tiny_model}}
    )
    uri = (tmp_path / "local.md").as_uri()
    text = "abc defg hij abcdef ghij\n" * 20
    open_document(client, uri, text)
    exact = await client.recorder.wait_for(TOKENS, lambda n: n["uri"] == uri and n["exact"])
    expected = len(spm.SentencePieceProcessor(model_file=tiny_model).encode(text))
    assert exact["source"] == "local" and exact["tokens"] == expected
    result = await execute(client, "greycloud.countTokens", {"text": text})
    assert result == {"tokens": expected, "exact": True, "source": "local"}
    assert count_calls(adc_env) == 0


async def test_gemma4_model_counts_locally_from_tokenizer_json(
    start_session, adc_env, tmp_path, tiny_tokenizer_json
):
    from tokenizers import Tokenizer

    client = await start_session(
        settings={
            "model": "gemini-3.5-flash",
            "tokenCount": {"debounceMs": 50, "localModelPath": str(tiny_tokenizer_json)},
        }
    )
    text = "abc defg hij abcdef ghij\n" * 20
    expected = len(
        Tokenizer.from_file(str(tiny_tokenizer_json)).encode(text, add_special_tokens=False).ids
    )
    result = await execute(client, "greycloud.countTokens", {"text": text})
    assert result == {"tokens": expected, "exact": True, "source": "local"}
    assert count_calls(adc_env) == 0


async def test_gemma4_model_without_a_local_file_says_why_once(start_session, adc_env, tmp_path):
    client = await start_session(
        settings={"model": "gemini-3.5-flash", "tokenCount": {"debounceMs": 10, "mode": "local"}},
        env={"HF_HUB_CACHE": str(tmp_path / "empty-hub")},
    )
    for i in range(2):
        result = await execute(client, "greycloud.countTokens", {"text": f"text number {i}"})
        assert result["source"] == "api"
    warnings = [m for m in client.messages if "gemma4" in m.message]
    assert len(warnings) == 1 and "tokenCount.localModelPath" in warnings[0].message


async def test_count_tokens_command(start_session, adc_env, tmp_path):
    client = await start_session()
    result = await execute(client, "greycloud.countTokens", {"text": TEXT})
    assert result["exact"] is True and result["source"] == "api"
    assert result["tokens"] == await emulator_count(TEXT)
    uri = (tmp_path / "c.md").as_uri()
    open_document(client, uri, TEXT)
    by_doc = await execute(client, "greycloud.countTokens", {"textDocument": {"uri": uri}})
    assert by_doc["tokens"] == result["tokens"]


async def test_bad_local_model_path_warns_once(start_session, adc_env, tmp_path):
    client = await start_session(
        settings={"tokenCount": {"debounceMs": 10, "localModelPath": str(tmp_path / "nope")}}
    )
    for i in range(3):
        uri = (tmp_path / f"n{i}.md").as_uri()
        open_document(client, uri, f"text number {i}")
        exact = await client.recorder.wait_for(
            TOKENS, lambda n, u=uri: n["uri"] == u and n["exact"]
        )
        assert exact["source"] == "api"
    warnings = [m for m in client.messages if "localModelPath" in m.message]
    assert len(warnings) == 1 and warnings[0].type == types.MessageType.Warning


async def test_one_api_count_in_flight_per_document(start_session, adc_env, tmp_path):
    adc_env.state.configure(latency=0.4)
    client = await start_session(settings={"tokenCount": {"debounceMs": 30}})
    uri = (tmp_path / "slow.md").as_uri()
    open_document(client, uri, "v1 text\n")
    text = "v1 text\n"
    for version in range(2, 12):
        await asyncio.sleep(0.1)  # longer than the debounce, shorter than a count
        insert(client, uri, version, 0, 0, "z")
        text = "z" + text
    final = await client.recorder.wait_for(
        TOKENS, lambda n: n["exact"] and n["version"] == 11, timeout=NO_HANG
    )
    records = adc_env.state.requests_for("countTokens")
    spans = sorted((r.time, r.end_time) for r in records)
    assert all(later[0] >= earlier[1] for earlier, later in itertools.pairwise(spans))
    assert len(records) < 10  # edits during a count were folded into the next one
    adc_env.state.configure(latency=0.0)
    assert final["tokens"] == await emulator_count(text)
