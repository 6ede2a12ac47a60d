"""Code actions from a plain LSP client: listed and resolved for free, run with one edit."""

from __future__ import annotations

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from tests.daemon.daemon_helpers import RawSession
from tests.helpers import cache_creations
from tests.lsp.lsp_helpers import counted, execute, record_apply_edits

SOURCE = "def add(a, b):\n    return a - b\n\nprint(add(1, 2))\n"
TEMPLATE = {
    "title": "Translate comments",
    "prompt": "In {file} ({language}) translate: {selection} [[words=5]]",
    "insert": "after",
}


def rng(line: int, start: int, end_line: int, end: int) -> types.Range:
    return types.Range(
        start=types.Position(line=line, character=start),
        end=types.Position(line=end_line, character=end),
    )


def open_python(client, workspace) -> str:
    path = workspace / "calc.py"
    path.write_text(SOURCE)
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="python", version=1, text=SOURCE
            )
        )
    )
    return uri


async def list_actions(client, uri, where, diagnostics=()) -> list[types.CodeAction]:
    listed = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=where,
            context=types.CodeActionContext(diagnostics=list(diagnostics)),
        )
    )
    assert all(isinstance(item, types.CodeAction) and item.command is None for item in listed)
    return listed


async def command_of(client, action: types.CodeAction) -> types.Command:
    if action.command is None:
        action = await client.code_action_resolve_async(action)
    assert action.command is not None and action.command.command == "greycloud.runCodeAction"
    return action.command


async def run(client, action) -> dict:
    """Run the action and wait for its result (``wait``: this client chose no progress token)."""
    command = await command_of(client, action)
    (data,) = command.arguments
    return await execute(client, command.command, {**data, "wait": True})


async def test_listing_and_resolving_cost_no_api_call(start_session, adc_env, tmp_path):
    client = await start_session(workspace=tmp_path, settings={"codeActions": [TEMPLATE]})
    uri = open_python(client, tmp_path)
    await counted(client, uri)  # the live count is an API call of its own, not the listing's
    before = len(adc_env.state.requests)
    actions = await list_actions(client, uri, rng(1, 4, 1, 4))  # a cursor, no selection
    titles = [a.title for a in actions]
    assert titles == [
        "Gemini: Explain",
        "Gemini: Improve / rewrite",
        "Gemini: Add documentation",
        "Gemini: Ask the workspace about this",
        "Gemini: Translate comments",
    ]
    data = actions[1].data
    assert data["range"] == {
        "start": {"line": 1, "character": 0},
        "end": {"line": 1, "character": 16},
    }
    diagnostic = types.Diagnostic(range=rng(1, 11, 1, 16), message="subtracts instead of adding")
    with_fix = await list_actions(client, uri, rng(1, 0, 2, 0), [diagnostic])
    (fix,) = [a for a in with_fix if a.kind == types.CodeActionKind.QuickFix]
    assert fix.title == "Gemini: Fix the diagnostics here" and fix.diagnostics
    for action in with_fix:
        await command_of(client, action)
    assert len(adc_env.state.requests) == before, "listing or resolving called the API"


async def test_edit_action_applies_one_edit(start_session, adc_env, tmp_path):
    client = await start_session(workspace=tmp_path)
    edits = record_apply_edits(client)
    uri = open_python(client, tmp_path)
    diagnostic = types.Diagnostic(range=rng(1, 11, 1, 16), message="subtracts instead of adding")
    actions = await list_actions(client, uri, rng(0, 0, 2, 0), [diagnostic])
    (fix,) = [a for a in actions if a.data["id"] == "fix"]
    result = await run(client, fix)
    assert result["applied"] is True and result["text"] and result["cancelled"] is False
    (edit,) = edits
    assert edit.label == "Gemini: Fix the diagnostics here"
    (text_edit,) = edit.edit.changes[uri]
    assert text_edit.range == rng(0, 0, 2, 0) and text_edit.new_text == result["text"]
    prompt = adc_env.state.requests_for("streamGenerateContent")[-1].body["contents"][0]
    sent = prompt["parts"][0]["text"]
    assert "subtracts instead of adding" in sent and "return a - b" in sent
    assert "calc.py" in sent and "python" in sent
    chunks = client.recorder.of("greycloud/generationChunk")
    assert "".join(c["text"] for c in chunks) == result["text"]


async def test_prose_action_and_template(start_session, adc_env, tmp_path):
    client = await start_session(workspace=tmp_path, settings={"codeActions": [TEMPLATE]})
    edits = record_apply_edits(client)
    uri = open_python(client, tmp_path)
    actions = await list_actions(client, uri, rng(3, 0, 3, 16))
    by_id = {a.data["id"]: a for a in actions}

    explained = await run(client, by_id["explain"])
    assert explained["applied"] is None and explained["text"] and edits == []
    assert any(
        m.type == types.MessageType.Info and m.message == explained["text"] for m in client.messages
    )

    # a client that chose the progress token streams the answer itself: no message
    command = await command_of(client, by_id["explain"])
    client.progress_reports.setdefault("nvim-1", [])
    shown = len(client.messages)
    streamed = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command=command.command, arguments=command.arguments, work_done_token="nvim-1"
        )
    )
    assert streamed["text"] and len(client.messages) == shown
    chunks = [c for c in client.recorder.of("greycloud/generationChunk") if c["token"] == "nvim-1"]
    assert "".join(c["text"] for c in chunks) == streamed["text"]

    result = await run(client, by_id["user:0"])
    sent = adc_env.state.requests_for("streamGenerateContent")[-1].body["contents"][0]
    assert sent["parts"][0]["text"] == "In calc.py (python) translate: print(add(1, 2)) [[words=5]]"
    (edit,) = edits
    (text_edit,) = edit.edit.changes[uri]
    assert text_edit.range == rng(3, 16, 3, 16) and text_edit.new_text == result["text"]


async def test_ask_the_workspace_offers_to_cache_first(start_session, adc_env, tmp_path):
    from tests.lsp.test_cache import make_workspace

    workspace = make_workspace(tmp_path / "ws")
    client = await start_session(workspace=workspace, settings={"model": "gemini-2.5-flash"})
    offers: list[types.ShowMessageRequestParams] = []

    @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
    def answer(ls, params: types.ShowMessageRequestParams):
        offers.append(params)
        return params.actions[0]  # "Cache N files"

    uri = open_python(client, workspace)
    actions = await list_actions(client, uri, rng(0, 0, 2, 0))
    (ask,) = [a for a in actions if a.data["id"] == "ask"]
    first = await run(client, ask)
    second = await run(client, ask)
    (offer,) = offers  # asked once; the second question reuses the cache
    assert "Cache 4 files" == offer.actions[0].title and "/hour" in offer.message
    creations = cache_creations(adc_env)
    assert len(creations) == 1
    assert first["cachedContent"] == second["cachedContent"] and first["cost"]["cachedTokens"] > 0
    assert first["applied"] is None


async def test_a_client_without_resolve_support_gets_commands_at_once(adc_env, tmp_path):
    """Helix, Kate and older clients never call codeAction/resolve: each action carries its
    command when listed, and running it works like a resolved one."""
    session = await RawSession.start("--standalone")
    try:
        await session.initialize(root=tmp_path.as_uri())  # capabilities {}: no resolveSupport
        path = tmp_path / "calc.py"
        path.write_text(SOURCE)
        uri = path.as_uri()
        item = {"uri": uri, "languageId": "python", "version": 1, "text": SOURCE}
        session.send({"method": "textDocument/didOpen", "params": {"textDocument": item}})
        where = {"start": {"line": 1, "character": 0}, "end": {"line": 2, "character": 0}}
        listed = await session.request(
            "textDocument/codeAction",
            {"textDocument": {"uri": uri}, "range": where, "context": {"diagnostics": []}},
        )
        actions = listed["result"]
        assert [a["title"] for a in actions][:2] == ["Gemini: Explain", "Gemini: Improve / rewrite"]
        assert all(a["command"]["command"] == "greycloud.runCodeAction" for a in actions)
        (explain,) = [a for a in actions if a["title"] == "Gemini: Explain"]
        answer = await session.request("workspace/executeCommand", explain["command"])
        # no progress token chosen: the answer comes at once, the prose as a message
        started = answer["result"]
        assert started["started"] is True and started["id"] == "explain", started
        shown = await session.wait_for(
            lambda m: m.get("method") == "window/showMessage" and m["params"]["type"] == 3
        )
        assert shown["params"]["message"]
        sent = adc_env.state.requests_for("streamGenerateContent")[-1].body["contents"][0]
        assert "return a - b" in sent["parts"][0]["text"]
    finally:
        await session.close()


async def test_ask_a_workspace_below_the_cache_minimum_offers_the_files_inline(
    start_session, adc_env, tmp_path
):
    """The plan knows the folder is too small to cache: say so and ask without a cache."""
    client = await start_session(workspace=tmp_path)
    offers: list[types.ShowMessageRequestParams] = []
    accept = True

    @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
    def answer(ls, params: types.ShowMessageRequestParams):
        offers.append(params)
        return params.actions[0] if accept else params.actions[1]

    (tmp_path / "helper.py").write_text("def helper():\n    return add(2, 3)\n")
    uri = open_python(client, tmp_path)
    actions = await list_actions(client, uri, rng(0, 0, 2, 0))
    (ask,) = [a for a in actions if a.data["id"] == "ask"]
    result = await run(client, ask)
    (offer,) = offers
    assert [a.title for a in offer.actions] == ["Ask with the files inline", "Cancel"]
    assert "below the 1024 tokens" in offer.message and "more needed" in offer.message
    assert cache_creations(adc_env) == []
    assert result["text"] and result["cachedContent"] is None and result["applied"] is None
    sent = adc_env.state.requests_for("streamGenerateContent")[-1].body
    assert "cachedContent" not in sent
    texts = [part["text"] for part in sent["contents"][0]["parts"]]
    assert any("File: helper.py" in t and "return add(2, 3)" in t for t in texts)
    assert "the workspace files above" in texts[-1]

    accept = False
    command = await command_of(client, ask)
    with pytest.raises(JsonRpcException) as info:
        await execute(client, command.command, {**command.arguments[0], "wait": True})
    assert "more needed" in str(info.value) and "cache.include" in str(info.value)
    assert cache_creations(adc_env) == []
