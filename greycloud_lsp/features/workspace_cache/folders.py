"""A session's workspace folders: which are open, which one a request means."""

from __future__ import annotations

from pathlib import Path

from pygls.exceptions import JsonRpcInvalidParams
from pygls.uris import to_fs_path

from greycloud_lsp.features.workspace_cache.file_selection import is_within
from greycloud_lsp.language_server import GreyCloudLanguageServer


def workspace_roots(ls: GreyCloudLanguageServer) -> list[Path]:
    """The session's workspace folders (or its root path), resolved."""
    roots = []
    for folder in ls.workspace.folders.values():
        if (path := to_fs_path(folder.uri)) is not None:
            roots.append(Path(path).resolve())
    if not roots and ls.workspace.root_path:
        roots.append(Path(ls.workspace.root_path).resolve())
    return roots


def choose_folder(ls: GreyCloudLanguageServer, folder: str | None, command: str) -> Path:
    """``folder`` (a URI or path inside a workspace folder), else the first folder.

    Raises ``InvalidParams`` naming ``command`` for a folder outside the workspace.
    """
    roots = workspace_roots(ls)
    if not roots:
        raise JsonRpcInvalidParams(f"{command}: folder: no workspace folder is open")
    if folder is None:
        return roots[0]
    path = to_fs_path(folder) if "://" in folder else folder
    if path is None:
        raise JsonRpcInvalidParams(f"{command}: folder: {folder!r} is not a file URI")
    candidate = Path(path)
    if not any(is_within(candidate, root) for root in roots):
        raise JsonRpcInvalidParams(f"{command}: folder: {folder} is outside the workspace folders")
    if not candidate.resolve().is_dir():
        raise JsonRpcInvalidParams(f"{command}: folder: {folder} is not a directory")
    return candidate.resolve()


def folder_for(ls: GreyCloudLanguageServer, uri: str | None) -> str | None:
    """The workspace folder holding ``uri`` (or the first folder)."""
    roots = workspace_roots(ls)
    if uri and (path := to_fs_path(uri)) is not None:
        for root in roots:
            if is_within(Path(path), root):
                return str(root)
    return str(roots[0]) if roots else None
