"""Property tests (hypothesis) against one live greycloud-lsp per test.

* every command, and the ``greycloud/tokenCount`` request, with random JSON
  arguments: each gets a result or an InvalidParams/RequestFailed error that
  names the command, and the server stays up;
* random ``workspace/didChangeConfiguration`` settings: the server keeps
  answering and recovers fully when the settings are fixed;
* random incremental edits: the server's text is the client's text, exactly.
"""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lsprotocol import types

from tests.lsp.lsp_helpers import open_document
from tests.reliability.lsp_abuse import (
    ACCEPTED_ERRORS,
    COMMANDS,
    NON_LSP_LINE_BREAKS,
    answer,
    change,
    command,
    did_change,
    on_loop,
    server_text,
)

FAST_SERVER = {"rpm": 100_000, "maxConcurrency": 20, "tokenCount": {"mode": "estimate"}}
PROPERTY_SETTINGS = settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
KEYS = (
    "prompt textDocument range includeDocument model systemInstruction temperature "
    "maxOutputTokens cachedContent insert text folder include exclude displayName ttlSeconds "
    "name uri start end line character"
).split()
NEAR_VALID = st.recursive(
    SCALARS
    | st.sampled_from(["file:///etc", "..", "../..", "workspace", "*.py", "replace", "after"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)
    ),
    max_leaves=12,
)
ARGUMENT = JSON | NEAR_VALID


async def test_every_command_answers_random_arguments(adc_env, lsp, tmp_path) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "notes.md").write_text("A short note.\n")
    client = await lsp(settings=FAST_SERVER, workspace=workspace)
    run = on_loop(asyncio.get_running_loop())
    ran: list[object] = []
    seen: dict[str, set[int | None]] = {}

    @PROPERTY_SETTINGS
    @given(name=st.sampled_from(COMMANDS), argument=ARGUMENT, wrap=st.booleans())
    def check(name: str, argument: object, wrap: bool) -> None:
        ran.append(1)
        arguments = [argument] if wrap else ([] if argument is None else [argument, argument])
        kind, value = run(answer(client, name, *arguments))
        if kind == "error":
            code, message = value
            seen.setdefault(name, set()).add(code)
            assert code in ACCEPTED_ERRORS, (name, arguments, code, message)
            assert message.strip() and "Traceback" not in message, (name, arguments, message)
            if code == -32602:  # InvalidParams names the command and the field
                assert name in message, (name, arguments, message)

    await asyncio.to_thread(check)
    assert len(ran) >= 30, len(ran)  # hypothesis really ran the examples
    assert set(seen) >= set(COMMANDS) - {"greycloud.listCaches"}
    # still alive and well
    result = await command(client, "greycloud.generate", {"prompt": "alive? [[words=3]]"})
    assert result["text"]


async def test_token_count_request_answers_random_params(adc_env, lsp) -> None:
    client = await lsp(settings=FAST_SERVER)
    run = on_loop(asyncio.get_running_loop())
    ran: list[object] = []

    async def request(params: object) -> tuple[str, object]:
        try:
            return "result", await asyncio.wait_for(
                client.protocol.send_request_async("greycloud/tokenCount", params), 10
            )
        except asyncio.TimeoutError:
            raise
        except Exception as exc:
            return "error", getattr(exc, "code", None)

    @PROPERTY_SETTINGS
    @given(params=ARGUMENT)
    def check(params: object) -> None:
        ran.append(1)
        kind, value = run(request(params))
        assert kind == "result" or value in ACCEPTED_ERRORS, (params, value)

    await asyncio.to_thread(check)
    assert len(ran) >= 30, len(ran)  # hypothesis really ran the examples
    assert (await command(client, "greycloud.countTokens", {"text": "still here"}))["tokens"] > 0


SETTING_VALUES = st.dictionaries(
    st.sampled_from(
        "projectId location model endpoint useApiKey apiKeyFile saEmail rpm tpm maxConcurrency "
        "temperature maxOutputTokens systemInstruction tokenCount cache".split()
    ),
    NEAR_VALID,
    max_size=5,
)


async def test_random_settings_never_take_the_server_down(adc_env, lsp) -> None:
    client = await lsp(settings=FAST_SERVER)
    uri = "untitled:settings.md"
    open_document(client, uri, "some words to count")
    run = on_loop(asyncio.get_running_loop())
    ran: list[object] = []

    async def reconfigure(value: object) -> object:
        client.set_configuration(value, section="greycloud")
        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={"greycloud": value})
        )
        # a purely local request: answered whatever the connection settings are
        return await asyncio.wait_for(
            client.protocol.send_request_async(
                "greycloud/tokenCount", {"textDocument": {"uri": uri}}
            ),
            10,
        )

    @PROPERTY_SETTINGS
    @given(value=SETTING_VALUES | JSON)
    def check(value: object) -> None:
        ran.append(1)
        result = run(reconfigure(value))
        assert result is not None

    await asyncio.to_thread(check)
    assert len(ran) >= 30, len(ran)  # hypothesis really ran the examples
    await reconfigure(FAST_SERVER)
    await asyncio.sleep(0.2)
    result = await command(client, "greycloud.generate", {"prompt": "recovered [[words=3]]"})
    assert result["text"]
    body = adc_env.state.requests_for("streamGenerateContent")[-1].body
    assert "recovered" in body["contents"][0]["parts"][0]["text"]


PIECES = st.sampled_from(
    [*NON_LSP_LINE_BREAKS, "a", "bc", " ", "\t", "\n", "\r\n", "\r", "é", "中", "😀", "\U0001d518"]
)
CHARS = st.characters(blacklist_categories=("Cs",))
TEXT = st.lists(PIECES | CHARS, max_size=12).map("".join)
EDITS = st.lists(
    st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1), TEXT), min_size=1, max_size=3),
    min_size=1,
    max_size=6,
)


async def test_random_incremental_edits_keep_server_text_identical(adc_env, lsp) -> None:
    client = await lsp(settings=FAST_SERVER)
    run = on_loop(asyncio.get_running_loop())
    ran: list[object] = []
    counter = iter(range(10**6))

    async def apply(initial: str, batches: list[list[tuple[float, float, str]]]) -> tuple[str, str]:
        uri = f"untitled:edits-{next(counter)}.md"
        open_document(client, uri, initial)
        text = initial
        for version, batch in enumerate(batches, start=2):
            events = []
            for a, b, new in batch:
                text, event = change(text, round(a * len(text)), round(b * len(text)), new)
                events.append(event)
            did_change(client, uri, version, events)
        seen = await server_text(client, adc_env, uri)
        client.text_document_did_close(
            types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
        )
        return text, seen

    @settings(PROPERTY_SETTINGS, max_examples=100)
    @given(initial=TEXT, batches=EDITS)
    def check(initial: str, batches: list[list[tuple[float, float, str]]]) -> None:
        ran.append(1)
        expected, seen = run(apply(initial, batches))
        assert seen == expected

    await asyncio.to_thread(check)
    assert len(ran) >= 30, len(ran)  # hypothesis really ran the examples


async def test_edits_after_a_unicode_line_separator_keep_server_text_identical(
    adc_env, lsp
) -> None:
    client = await lsp(settings=FAST_SERVER)
    uri = "untitled:separator.md"
    text = "a\u2028b"
    open_document(client, uri, text)
    text, event = change(text, 3, 3, "X")  # one LSP line: "a\u2028b" -> "a\u2028bX"
    did_change(client, uri, 2, [event])
    assert await server_text(client, adc_env, uri) == text
