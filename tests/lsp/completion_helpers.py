"""Helpers for the inline-completion tests and benchmark: open, edit, ask, count requests."""

from __future__ import annotations

from typing import Any

from lsprotocol import types
from pytest_lsp import LanguageClient

from greycloud import fill_in_middle


def open_code(client: LanguageClient, uri: str, text: str, language: str = "python") -> None:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id=language, version=1, text=text
            )
        )
    )


def replace_text(client: LanguageClient, uri: str, text: str, version: int) -> None:
    """The whole document becomes ``text`` (one didChange)."""
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


def type_at(client: LanguageClient, uri: str, line: int, character: int, text: str, version: int):
    """Insert ``text`` (no line break) at ``line:character`` (one incremental didChange)."""
    at = types.Position(line, character)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[
                types.TextDocumentContentChangePartial(range=types.Range(at, at), text=text)
            ],
        )
    )


def end_of(text: str) -> types.Position:
    """The position after the last character of ``text`` (ASCII text)."""
    lines = text.split("\n")
    return types.Position(len(lines) - 1, len(lines[-1]))


async def complete(
    client: LanguageClient, uri: str, position: types.Position
) -> types.InlineCompletionList | None:
    return await client.text_document_inline_completion_async(
        types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=position,
            context=types.InlineCompletionContext(
                trigger_kind=types.InlineCompletionTriggerKind.Automatic
            ),
        )
    )


def completion_calls(emulator: Any) -> list[Any]:
    """The model calls the emulator received that are completion prompts."""
    calls = []
    for record in emulator.state.requests:
        if record.action not in ("generateContent", "streamGenerateContent"):
            continue
        texts = [
            part.get("text", "")
            for content in (record.body or {}).get("contents", [])
            for part in content.get("parts", [])
        ]
        if any(fill_in_middle.MIDDLE_MARK in text for text in texts):
            calls.append(record)
    return calls


def prompt_text(record: Any) -> str:
    body = record.body or {}
    texts = [
        part.get("text", "")
        for content in body.get("contents", [])
        for part in content.get("parts", [])
    ]
    return "\n".join(texts)
