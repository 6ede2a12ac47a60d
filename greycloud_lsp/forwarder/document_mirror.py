"""What the forwarder remembers of its session, to replay it into a new daemon.

The editor never learns that the daemon changed: the forwarder keeps the
``initialize`` request, whether ``initialized`` was sent, workspace-folder
changes, the last pushed configuration and every open document with its
current text (``didChange`` applied, full or incremental, in the negotiated
position encoding, by the same rules as the daemon's documents:
``common/lsp_text.py``). A change costs the lines it touches, not the document.
"""

from __future__ import annotations

import copy
from typing import Any

from greycloud_lsp.common.lsp_text import LineIndex


class Document:
    """An open document: its language, version and text (kept as lines, see `LineIndex`)."""

    __slots__ = ("index", "language_id", "version")

    def __init__(self, language_id: str, version: int, text: str) -> None:
        self.language_id = language_id
        self.version = version
        self.index = LineIndex(text)

    @property
    def text(self) -> str:
        return self.index.text


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
                    document.index.apply_change(change, self.encoding)
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
