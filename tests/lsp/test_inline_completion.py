"""textDocument/inlineCompletion against a real server process and the emulator."""

from __future__ import annotations

import asyncio
import time

import pytest
from lsprotocol import types

from greycloud.emulator.cache_routes import cache_store
from tests.daemon.daemon_helpers import status
from tests.helpers import NO_HANG, PROMPTLY
from tests.lsp.completion_helpers import (
    complete,
    completion_calls,
    end_of,
    open_code,
    prompt_text,
    replace_text,
    type_at,
)
from tests.lsp.lsp_helpers import execute, language_servers
from tests.lsp.test_cache import make_workspace

FAST = {"completion": {"debounceMs": 20}}
CODE = "def add(a, b):\n    return a + b\n\n\ntotal = ad"


def _uri(workspace, name: str) -> str:
    return (workspace / name).as_uri()


def _only_item(result) -> types.InlineCompletionItem:
    assert result is not None and len(result.items) == 1, result
    return result.items[0]


async def _wait_for(predicate, timeout: float = NO_HANG) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_items_continue_the_prefix(start_session, adc_env, tmp_path):
    client = await start_session(settings=FAST)
    uri = _uri(tmp_path, "calc.py")
    open_code(client, uri, CODE)
    item = _only_item(await complete(client, uri, end_of(CODE)))
    text = item.insert_text
    assert isinstance(text, str) and text.startswith("d(")  # finishes `add`, then calls it
    assert "\n" in text and "```" not in text and "<|" not in text
    cursor = end_of(CODE)  # an insertion: an empty range at the cursor
    assert item.range == types.Range(cursor, cursor)
    assert item.command is not None and item.command.command == "greycloud.completionAccepted"
    assert item.command.title == "GreyCloud: completion accepted"
    (argument,) = item.command.arguments
    assert argument["kind"] == "all" and argument["id"]
    (call,) = completion_calls(adc_env)
    assert call.model == "gemini-2.5-flash-lite"  # the completion default model
    body = call.body
    assert "code completion" in body["systemInstruction"]["parts"][0]["text"]
    assert body["generationConfig"]["maxOutputTokens"] == 96
    assert prompt_text(call).endswith("<|fim_prefix|>" + CODE + "<|fim_suffix|><|fim_middle|>")


async def test_the_text_after_the_cursor_is_never_repeated(start_session, adc_env, tmp_path):
    client = await start_session(settings=FAST)
    uri = _uri(tmp_path, "echo.py")
    head = "# [[fim-echo-suffix]]\ncompute_total = 1\nx = compute_"
    open_code(client, uri, head + "(1)\nprint(x)\n")
    item = _only_item(await complete(client, uri, end_of(head)))
    assert item.insert_text == "total"  # the model answered "total(1)": "(1)" follows already


async def test_an_item_restating_the_typed_word_replaces_it(start_session, adc_env, tmp_path):
    client = await start_session(settings=FAST)
    uri = _uri(tmp_path, "restate.py")
    text = "# [[fim-restate-word]]\ncompute_total = 1\nx = comp"
    open_code(client, uri, text)
    item = _only_item(await complete(client, uri, end_of(text)))
    assert item.insert_text.startswith("compute_total(")
    assert item.range == types.Range(types.Position(2, 4), types.Position(2, 8))


async def test_rapid_requests_make_one_model_call(start_session, adc_env, tmp_path):
    client = await start_session(settings={"completion": {"debounceMs": 1000}})
    uri = _uri(tmp_path, "typing.py")
    text = "value = 1\nresult = val"
    open_code(client, uri, text)
    asks = []
    for version, char in enumerate("ue + ", start=2):
        asks.append(asyncio.ensure_future(complete(client, uri, end_of(text))))
        await asyncio.sleep(0.03)
        type_at(client, uri, 1, len(text.split("\n")[1]), char, version)
        text += char
    asks.append(asyncio.ensure_future(complete(client, uri, end_of(text))))
    results = await asyncio.wait_for(asyncio.gather(*asks), NO_HANG)
    assert all(not r.items for r in results[:-1])  # superseded: answered empty at once
    assert results[-1].items
    assert len(completion_calls(adc_env)) == 1
    stats = await execute(client, "greycloud.completionStats")
    assert stats["requests"] == 6 and stats["upstream"] == 1 and stats["shown"] == 1


async def test_the_model_call_is_cancelled_when_the_text_moves_on(start_session, adc_env, tmp_path):
    adc_env.state.configure(latency=3.0)
    client = await start_session(settings=FAST)
    uri = _uri(tmp_path, "moving.py")
    open_code(client, uri, CODE)
    asked = asyncio.ensure_future(complete(client, uri, end_of(CODE)))
    await _wait_for(lambda: completion_calls(adc_env))
    moved_at = time.monotonic()
    replace_text(client, uri, CODE + "d", 2)
    result = await asyncio.wait_for(asked, NO_HANG)
    assert not result.items  # never a suggestion for text that is gone
    (call,) = completion_calls(adc_env)
    await _wait_for(lambda: call.status is not None)
    assert call.status == 499  # the emulator saw the client leave
    assert call.end_time - moved_at < PROMPTLY
    stats = await execute(client, "greycloud.completionStats")
    assert stats["cancelled"] == 1 and stats["shown"] == 0


async def test_a_request_cancelled_by_the_client_cancels_the_model_call(
    start_session, adc_env, tmp_path
):
    adc_env.state.configure(latency=3.0)
    client = await start_session(settings=FAST)
    uri = _uri(tmp_path, "cancel.py")
    open_code(client, uri, CODE)
    pending = set(client.protocol._request_futures)
    asked = asyncio.ensure_future(complete(client, uri, end_of(CODE)))
    await _wait_for(lambda: completion_calls(adc_env))
    (msg_id,) = set(client.protocol._request_futures) - pending
    client.protocol.notify("$/cancelRequest", types.CancelParams(id=msg_id))
    with pytest.raises(Exception):  # noqa: B017 - the client sees RequestCancelled
        await asyncio.wait_for(asked, NO_HANG)
    (call,) = completion_calls(adc_env)
    await _wait_for(lambda: call.status is not None)
    assert call.status == 499


async def test_an_answer_for_a_position_left_is_empty(start_session, adc_env, tmp_path):
    adc_env.state.configure(latency=0.5)
    client = await start_session(settings=FAST)
    uri = _uri(tmp_path, "moved.py")
    open_code(client, uri, CODE)
    first = asyncio.ensure_future(complete(client, uri, end_of(CODE)))
    await _wait_for(lambda: completion_calls(adc_env))
    second = asyncio.ensure_future(complete(client, uri, types.Position(1, 4)))
    assert not (await asyncio.wait_for(first, NO_HANG)).items
    assert (await asyncio.wait_for(second, NO_HANG)).items  # the cursor's new place


async def test_typing_what_was_suggested_reuses_it_without_a_call(start_session, adc_env, tmp_path):
    client = await start_session(settings=FAST)
    uri = _uri(tmp_path, "ahead.py")
    open_code(client, uri, CODE)
    first = _only_item(await complete(client, uri, end_of(CODE)))
    suggestion = first.insert_text
    typed = suggestion[:2]
    type_at(client, uri, 4, len("total = ad"), typed, 2)
    again = _only_item(await complete(client, uri, end_of(CODE + typed)))
    assert again.insert_text == suggestion[2:]
    assert again.command.arguments[0]["id"] == first.command.arguments[0]["id"]
    assert len(completion_calls(adc_env)) == 1
    stats = await execute(client, "greycloud.completionStats")
    assert stats["reused"] == 1 and stats["upstream"] == 1
    # Typing something else asks the model again.
    type_at(client, uri, 4, len("total = ad") + 2, "Q", 3)
    await complete(client, uri, end_of(CODE + typed + "Q"))
    assert len(completion_calls(adc_env)) == 2


async def test_completions_beyond_their_lane_are_dropped_and_commands_go_at_once(
    start_session, adc_env, tmp_path
):
    adc_env.state.set_quota(rpm=4)  # the emulator would answer a 5th request with 429
    settings = {
        "model": "gemini-2.5-flash-lite",
        "rpm": 4,
        "tokenCount": {"enabled": False},  # live counts would take spare requests too
        "completion": {"debounceMs": 0, "quotaShare": 0.5, "maxWaitMs": 100},
    }
    client = await start_session(settings=settings, init_options=settings)
    answers = []
    for i in range(4):
        uri = _uri(tmp_path, f"lane{i}.py")
        open_code(client, uri, CODE)
        answers.append(await complete(client, uri, end_of(CODE)))
    assert [bool(a.items) for a in answers] == [True, True, False, False]
    stats = await execute(client, "greycloud.completionStats")
    assert stats["dropped"] == 2 and stats["upstream"] == 2
    started = time.monotonic()
    for _ in range(2):  # the half of the quota completions may not take
        result = await execute(client, "greycloud.generate", {"prompt": "Hi [[words=3]]"})
        assert result["text"]
    assert time.monotonic() - started < PROMPTLY
    assert not [r for r in adc_env.state.requests if r.status == 429]


async def test_accepted_commands_are_counted(start_session, adc_env, tmp_path):
    client = await start_session(settings=FAST)
    uri = _uri(tmp_path, "accept.py")
    open_code(client, uri, CODE)
    item = _only_item(await complete(client, uri, end_of(CODE)))
    await execute(client, item.command.command, *item.command.arguments)
    await execute(client, "greycloud.completionAccepted", {"id": "1", "kind": "word"})
    stats = await execute(client, "greycloud.completionStats")
    assert stats == {
        "requests": 1,
        "upstream": 1,
        "shown": 1,
        "accepted": 2,
        "dropped": 0,
        "reused": 0,
        "cancelled": 0,
    }
    with pytest.raises(Exception, match="kind"):
        await execute(client, "greycloud.completionAccepted", {"id": "1", "kind": "most"})


async def test_disabled_by_setting_or_language(start_session, adc_env, tmp_path):
    settings = {"completion": {"debounceMs": 0, "languages": {"python": False}}}
    client = await start_session(settings=settings)
    code, notes = _uri(tmp_path, "off.py"), _uri(tmp_path, "notes.md")
    open_code(client, code, CODE)
    open_code(client, notes, "Adding numbers with ad", language="markdown")
    assert not (await complete(client, code, end_of(CODE))).items
    assert (await complete(client, notes, end_of("Adding numbers with ad"))).items
    client.set_configuration({"completion": {"enabled": False}}, section="greycloud")
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"greycloud": {"completion": {}}})
    )
    await _wait_for(lambda: True)
    await asyncio.sleep(0.5)
    calls = len(completion_calls(adc_env))
    assert not (await complete(client, notes, end_of("Adding numbers with ad"))).items
    assert len(completion_calls(adc_env)) == calls == 1


async def test_excluded_files_are_never_sent(start_session, adc_env, tmp_path):
    workspace = make_workspace(tmp_path / "ws")
    client = await start_session(workspace=workspace, settings=FAST)
    secret = "AKIA" + "ABCDEFGHIJKLMNOP"
    ignored = workspace / "build" / "gen.py"
    env = workspace / ".env"
    leaky = workspace / "src" / "keys.py"
    open_code(client, ignored.as_uri(), "def add_all(a):\n    return ad")
    open_code(client, env.as_uri(), "ADD_TOKEN=ad")
    open_code(client, leaky.as_uri(), f"def add_keys():\n    return '{secret}'  # add\n")
    for path, text in ((ignored, "def add_all(a):\n    return ad"), (env, "ADD_TOKEN=ad")):
        assert not (await complete(client, path.as_uri(), end_of(text))).items
    assert completion_calls(adc_env) == []
    main = workspace / "src" / "calc.py"
    open_code(client, main.as_uri(), CODE)
    assert (await complete(client, main.as_uri(), end_of(CODE))).items
    (call,) = completion_calls(adc_env)
    sent = prompt_text(call)
    assert secret not in sent and "add_all" not in sent and "ADD_TOKEN" not in sent


async def test_other_open_files_come_first_and_related_ones_only(start_session, adc_env, tmp_path):
    client = await start_session(settings=FAST)
    helper = _uri(tmp_path, "helpers.py")
    unrelated = _uri(tmp_path, "zzz.py")
    open_code(client, helper, "def add(x, y):\n    return x + y\n")
    open_code(client, unrelated, "import sys\n")
    uri = _uri(tmp_path, "main.py")
    open_code(client, uri, CODE)
    assert (await complete(client, uri, end_of(CODE))).items
    sent = prompt_text(completion_calls(adc_env)[0])
    assert sent.index("<|file_sep|>helpers.py") < sent.index("<|fim_prefix|>")
    assert "zzz.py" not in sent


async def test_a_fresh_workspace_cache_is_used(start_session, adc_env, tmp_path):
    cache_store(adc_env.state).clear()
    workspace = make_workspace(tmp_path / "ws")
    model = "gemini-2.5-flash"
    settings = {"model": model, "completion": {"debounceMs": 0, "model": model}}
    client = await start_session(workspace=workspace, settings=settings)
    created = await execute(client, "greycloud.cacheWorkspace", {})
    uri = (workspace / "src" / "calc.py").as_uri()
    open_code(client, uri, CODE)
    assert (await complete(client, uri, end_of(CODE))).items
    (call,) = completion_calls(adc_env)
    assert call.body["cachedContent"] == created["name"]
    assert "systemInstruction" not in call.body  # the instruction leads the user turn
    assert prompt_text(call).startswith("You are a code completion engine")


async def test_two_daemon_windows_with_their_own_settings(adc_env, tmp_path):
    async with language_servers(tmp_path, mode="daemon") as start:
        quiet = await start(settings={"completion": {"languages": {"*": False}}})
        eager = await start(settings=FAST)
        uri = _uri(tmp_path, "shared.py")
        for client in (quiet, eager):
            open_code(client, uri, CODE)
        assert not (await complete(quiet, uri, end_of(CODE))).items
        assert (await complete(eager, uri, end_of(CODE))).items
        assert (await execute(quiet, "greycloud.completionStats"))["upstream"] == 0
        assert (await execute(eager, "greycloud.completionStats"))["upstream"] == 1
        daemon = await status()
        assert daemon is not None
        counts = sorted(s["completions"]["upstream"] for s in daemon["sessions"])
        assert counts == [0, 1]


async def test_two_servers_share_the_completion_lane_through_redis(adc_env, redis_url, tmp_path):
    settings = {
        "quotaUrl": redis_url,
        "rpm": 8,
        "tokenCount": {"enabled": False},
        "completion": {"debounceMs": 0, "quotaShare": 0.25, "maxWaitMs": 1000},
    }
    async with language_servers(tmp_path) as start:
        servers = [await start(settings=settings, init_options=settings) for _ in range(2)]
        answers = []
        for i in range(6):
            client = servers[i % 2]
            uri = _uri(tmp_path, f"redis{i}.py")
            open_code(client, uri, CODE)
            answers.append(bool((await complete(client, uri, end_of(CODE))).items))
        # A quarter of 8 rpm is 2 completions a minute, for both servers together.
        assert sum(answers) == 2
        dropped = [(await execute(c, "greycloud.completionStats"))["dropped"] for c in servers]
        assert sum(dropped) == 4
        result = await execute(servers[1], "greycloud.generate", {"prompt": "Hi [[words=3]]"})
        assert result["text"]  # the rest of the quota is there for commands
    assert not [r for r in adc_env.state.requests if r.status == 429]


async def test_the_server_advertises_inline_completions(tmp_path):
    from tests.lsp import lsp_helpers

    capabilities = await lsp_helpers.server_capabilities()
    assert capabilities.inline_completion_provider is not None
    commands = capabilities.execute_command_provider.commands
    assert {"greycloud.completionAccepted", "greycloud.completionStats"} <= set(commands)


async def test_daemon_windows_share_one_lane(adc_env, tmp_path):
    settings = {
        "rpm": 8,
        "tokenCount": {"enabled": False},
        "completion": {"debounceMs": 0, "quotaShare": 0.25, "maxWaitMs": 100},
    }
    async with language_servers(tmp_path, mode="daemon") as start:
        windows = [await start(settings=settings, init_options=settings) for _ in range(2)]
        answers = []
        for i in range(6):
            client = windows[i % 2]
            uri = _uri(tmp_path, f"lane{i}.py")
            open_code(client, uri, CODE)
            answers.append(bool((await complete(client, uri, end_of(CODE))).items))
        assert answers == [True, True, False, False, False, False]  # 2 a minute, both windows
    assert not [r for r in adc_env.state.requests if r.status == 429]
