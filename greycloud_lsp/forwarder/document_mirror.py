"""What the forwarder remembers of its session, to replay it into a new daemon.

The editor never learns that the daemon changed: the forwarder keeps the
``initialize`` request, whether ``initialized`` was sent, workspace-folder
changes, the last pushed configuration and every open document with its
current text (``didChange`` applied, full or incremental, in the negotiated
position encoding).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass
class Document:
    language_id: str
    version: int
    text: str


def offset_at(text: str, line: int, character: int, encoding: str = "utf-16") -> int:
    """Index into ``text`` of an LSP position (clamped to the line's end)."""
    start = 0
    for _ in range(max(line, 0)):
        found = _LINE_BREAK.search(text, start)
        if found is None:
            return len(text)
        start = found.end()
    found = _LINE_BREAK.search(text, start)
    end = found.start() if found else len(text)
    if encoding == "utf-32":
        return min(start + max(character, 0), end)
    units = 0
    index = start
    while index < end and units < character:
        char = text[index]
        if encoding == "utf-8":
            units += len(char.encode("utf-8", "surrogatepass"))
        else:
            units += 2 if ord(char) > 0xFFFF else 1
        index += 1
    return index


def apply_change(text: str, change: dict[str, Any], encoding: str = "utf-16") -> str:
    """``text`` after one ``TextDocumentContentChangeEvent``."""
    new_text = change.get("text", "")
    span = change.get("range")
    if not span:
        return new_text
    begin = offset_at(text, span["start"]["line"], span["start"]["character"], encoding)
    end = offset_at(text, span["end"]["line"], span["end"]["character"], encoding)
    return text[:begin] + new_text + text[max(begin, end) :]


class SessionMirror:
    """The replayable state of one editor session."""

    def __init__(self) -> None:
        self.initialize: dict[str, Any] | None = None
        self.initialized = False
        self.folder_changes: list[Any] = []
        self.configuration: Any = None
        self.documents: dict[str, Document] = {}
        self.encoding = "utf-16"

    def observe_client(self, message: dict[str, Any]) -> None:
        """Track a message from the editor (before it goes to the daemon)."""
        method = message.get("method")
        params = message.get("params") or {}
        if method == "initialize":
            self.initialize = copy.deepcopy(message)
        elif method == "initialized":
            self.initialized = True
        elif method == "workspace/didChangeWorkspaceFolders":
            self.folder_changes.append(params)
        elif method == "workspace/didChangeConfiguration":
            self.configuration = params
        elif method == "textDocument/didOpen":
            item = params["textDocument"]
            self.documents[item["uri"]] = Document(
                item.get("languageId", ""), item.get("version", 0), item.get("text", "")
            )
        elif method == "textDocument/didChange":
            document = self.documents.get(params["textDocument"]["uri"])
            if document is not None:
                for change in params.get("contentChanges", []):
                    document.text = apply_change(document.text, change, self.encoding)
                document.version = params["textDocument"].get("version", document.version)
        elif method == "textDocument/didClose":
            self.documents.pop(params["textDocument"]["uri"], None)

    def observe_initialize_result(self, result: Any) -> None:
        """Note the position encoding the daemon chose."""
        capabilities = (result or {}).get("capabilities") or {} if isinstance(result, dict) else {}
        self.encoding = capabilities.get("positionEncoding") or "utf-16"

    def replay(self, request_id: str) -> list[dict[str, Any]]:
        """Messages that rebuild this session in a fresh daemon.

        The ``initialize`` request gets ``request_id``, so its answer can be
        swallowed; nothing else in the replay is a request.
        """
        if self.initialize is None:
            return []
        messages: list[dict[str, Any]] = [{**self.initialize, "id": request_id}]
        if not self.initialized:
            return messages
        messages.append({"jsonrpc": "2.0", "method": "initialized", "params": {}})
        for change in self.folder_changes:
            messages.append(_notification("workspace/didChangeWorkspaceFolders", change))
        if self.configuration is not None:
            messages.append(_notification("workspace/didChangeConfiguration", self.configuration))
        for uri, document in self.documents.items():
            item = {
                "uri": uri,
                "languageId": document.language_id,
                "version": document.version,
                "text": document.text,
            }
            messages.append(_notification("textDocument/didOpen", {"textDocument": item}))
        return messages


def _notification(method: str, params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": method, "params": params}
