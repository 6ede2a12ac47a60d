"""What a completion sends: the text around the cursor, then the most relevant open files.

Budgets come from ``completion.contextTokens`` (`options.context_chars`). A
document is never sent when the workspace cache would leave it out (ignore
rules, secret names, ``cache.include``/``cache.exclude``:
`file_selection.excluded_reason`) or when its text holds a credential
(`greycloud.redaction.contains_secret`).

Other open documents are ranked by a cheap score: identifiers they share with
the text before the cursor, a bonus for the same language and for a recent
edit. Each is cut to what is left of the budget.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import attrs
from lsprotocol import types
from pygls.uris import to_fs_path
from pygls.workspace import TextDocument

from greycloud.redaction import contains_secret
from greycloud_lsp.features.workspace_cache.file_selection import excluded_reason
from greycloud_lsp.features.workspace_cache.folders import workspace_roots
from greycloud_lsp.language_server import GreyCloudLanguageServer

_IDENTIFIER = re.compile(r"[A-Za-z_]\w{2,}")
SAME_LANGUAGE_BONUS = 5.0
RECENT_SECONDS = 120.0
RECENT_BONUS = 3.0
MAX_OTHER_DOCUMENTS = 3
IDENTIFIER_WINDOW = 2000
"""Characters before the cursor whose identifiers rank the other documents."""


@attrs.define
class Cursor:
    """A document's text split at the cursor (the whole text, not cut to a budget)."""

    prefix: str
    suffix: str

    @property
    def line_prefix(self) -> str:
        return self.prefix.rsplit("\n", 1)[-1]

    @property
    def line_suffix(self) -> str:
        return self.suffix.split("\n", 1)[0]


@attrs.define
class CompletionContext:
    """The parts of one prompt, cut to the budget."""

    path: str
    language_id: str | None
    prefix: str
    suffix: str
    others: list[tuple[str, str]] = attrs.field(factory=list)
    """(path, text) of other open documents, most relevant first."""


def split_at(document: TextDocument, position: types.Position) -> Cursor:
    """``document``'s text before and after ``position`` (LSP columns)."""
    source = document.source
    offset = min(len(source), document.offset_at_position(position))
    return Cursor(source[:offset], source[offset:])


def display_path(ls: GreyCloudLanguageServer, uri: str) -> str:
    """``uri`` relative to its workspace folder when inside one (what the prompt names)."""
    path = to_fs_path(uri)
    if path is None:
        return uri
    for root in workspace_roots(ls):
        try:
            return Path(path).resolve().relative_to(root).as_posix()
        except ValueError:
            continue
    return Path(path).name


def name_exclusion(
    path: str, roots: list[Path], include: list[str], exclude: list[str]
) -> str | None:
    """Why the workspace cache would leave ``path`` out by its name and place, or None.

    Blocking (it reads the ``.gitignore`` files on the way): run it in a thread.
    """
    candidate = Path(path)
    for root in roots:
        reason = excluded_reason(candidate, root, include=include, exclude=exclude)
        if reason != "outside workspace":
            return reason
    # Outside every folder: its name still must not look like a secret.
    reason = excluded_reason(candidate, candidate.parent)
    return None if reason == "outside workspace" else reason


class Exclusions:
    """Which documents may be sent: the cache's rules by name (kept `NAME_TTL` seconds per
    document, as ``.gitignore`` files rarely change; judged in a thread), then a credential
    in the text."""

    NAME_TTL = 10.0

    def __init__(self, ls: GreyCloudLanguageServer) -> None:
        self.ls = ls
        self._names: dict[str, tuple[float, tuple[Any, ...], str | None]] = {}

    async def reason(self, uri: str, text: str) -> str | None:
        """Why ``uri`` (holding ``text``) must not be sent, or None."""
        cache = self.ls.settings.cache
        rules = (tuple(cache.include), tuple(cache.exclude))
        now = time.monotonic()
        known = self._names.get(uri)
        if known is None or known[0] < now or known[1] != rules:
            path = to_fs_path(uri)
            named = None
            if path is not None:
                roots = workspace_roots(self.ls)
                include, exclude = list(cache.include), list(cache.exclude)
                named = await asyncio.to_thread(name_exclusion, path, roots, include, exclude)
            known = (now + self.NAME_TTL, rules, named)
            if uri in self.ls.workspace.text_documents:  # not closed meanwhile
                self._names[uri] = known
        if known[2] is not None:
            return known[2]
        return "secret (content)" if contains_secret(text) else None

    def forget(self, uri: str) -> None:
        self._names.pop(uri, None)


def cut(cursor: Cursor, prefix_chars: int, suffix_chars: int) -> tuple[str, str]:
    """The prefix's end and the suffix's start within their budgets, cut at line breaks
    (a single line longer than the budget is cut where the budget ends)."""
    text = cursor.prefix
    start = max(0, len(text) - max(0, prefix_chars))
    if 0 < start and text[start - 1] != "\n" and (line := text.find("\n", start)) != -1:
        start = line + 1
    after = cursor.suffix
    end = min(len(after), max(0, suffix_chars))
    if end < len(after) and after[end - 1 : end] != "\n":
        line = after.rfind("\n", 0, end)
        end = line + 1 if line != -1 else end
    return text[start:], after[:end]


def rank_others(
    ls: GreyCloudLanguageServer,
    uri: str,
    language_id: str | None,
    prefix: str,
    edited: dict[str, float],
) -> list[TextDocument]:
    """Other open documents, most relevant first (documents sharing nothing are left out)."""
    wanted = set(_IDENTIFIER.findall(prefix[-IDENTIFIER_WINDOW:]))
    now = time.monotonic()
    scored: list[tuple[float, str, TextDocument]] = []
    for other_uri, document in list(ls.workspace.text_documents.items()):
        if other_uri == uri:
            continue
        shared = len(wanted & set(_IDENTIFIER.findall(document.source)))
        if not shared:
            continue
        score = float(shared)
        if language_id is not None and document.language_id == language_id:
            score += SAME_LANGUAGE_BONUS
        if now - edited.get(other_uri, float("-inf")) < RECENT_SECONDS:
            score += RECENT_BONUS
        scored.append((score, other_uri, document))
    scored.sort(key=lambda item: (-item[0], item[1]))
    return [document for _, _, document in scored[:MAX_OTHER_DOCUMENTS]]


async def build_context(
    ls: GreyCloudLanguageServer,
    document: TextDocument,
    cursor: Cursor,
    budgets: tuple[int, int, int],
    edited: dict[str, float],
    exclusions: Exclusions,
) -> CompletionContext:
    """The prompt's parts for ``cursor`` in ``document`` (the caller checked it may be sent)."""
    prefix_chars, suffix_chars, total = budgets
    prefix, suffix = cut(cursor, prefix_chars, suffix_chars)
    context = CompletionContext(
        display_path(ls, document.uri), document.language_id, prefix, suffix
    )
    left = total - len(prefix) - len(suffix)
    for other in rank_others(ls, document.uri, document.language_id, cursor.prefix, edited):
        if left <= 0:
            break
        source = other.source  # the text judged is the text sent
        if await exclusions.reason(other.uri, source) is not None:
            continue
        text = source[:left]
        context.others.append((display_path(ls, other.uri), text))
        left -= len(text)
    return context
