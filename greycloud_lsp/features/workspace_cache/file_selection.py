"""Choosing which workspace files go into a context cache.

Honours ``.gitignore`` files (root and nested), include/exclude globs, skips
binary files, oversized files, anything that looks like a secret, and never
reads a file that resolves outside the folder being cached.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import attrs
import pathspec

from greycloud.redaction import contains_secret

SECRET_FILE_PATTERNS = (
    ".env*",
    "*.pem",
    "*.key",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    "*credentials*.json",
    "*.p12",
    "*.pfx",
    "*.keystore",
    ".netrc",
    ".npmrc",
    ".pypirc",
    ".git/",
    ".ssh/",
    ".gnupg/",
)
ALWAYS_SKIPPED_DIRS = {".git", ".hg", ".svn"}
BINARY_SNIFF_BYTES = 8192


@attrs.define
class Collected:
    """Result of a walk: files to upload and everything left out with a reason."""

    root: Path
    files: list[tuple[str, Path, str]] = attrs.field(factory=list)  # (relative, path, text)
    skipped: list[tuple[str, str]] = attrs.field(factory=list)  # (relative, reason)
    total_bytes: int = 0


def _spec(patterns: Iterable[str]) -> pathspec.PathSpec | None:
    patterns = [p for p in patterns if p.strip()]
    return pathspec.GitIgnoreSpec.from_lines(patterns) if patterns else None


def is_within(path: Path, root: Path) -> bool:
    """True if the resolved ``path`` is ``root`` or below it."""
    try:
        path.resolve().relative_to(root.resolve())
    except (ValueError, OSError):
        return False
    return True


def collect(
    root: Path,
    *,
    include: list[str] | None = None,
    exclude: list[str] | None = None,
    max_file_bytes: int,
    max_total_bytes: int,
) -> Collected:
    """Walk ``root`` (blocking: run it in a thread) and pick the files to cache."""
    root = root.resolve()
    result = Collected(root)
    include_spec = _spec(include or [])
    exclude_spec = _spec(exclude or [])
    secret_spec = _spec(SECRET_FILE_PATTERNS)
    ignores: list[tuple[Path, pathspec.PathSpec]] = []

    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        current = Path(dirpath)
        gitignore = current / ".gitignore"
        if gitignore.is_file() and not gitignore.is_symlink():
            try:
                lines = gitignore.read_text("utf-8", errors="replace").splitlines()
            except OSError:
                lines = []
            if (spec := _spec(lines)) is not None:
                ignores.append((current, spec))
        active = [(b, s) for b, s in ignores if b == current or b in current.parents]

        def ignored(path: Path, is_dir: bool, active: list = active) -> bool:
            return _ignored(active, path, is_dir)

        kept_dirs = []
        for name in sorted(dirnames):
            path = current / name
            rel = path.relative_to(root).as_posix()
            if name in ALWAYS_SKIPPED_DIRS or secret_spec.match_file(rel + "/"):  # type: ignore[union-attr]
                result.skipped.append((rel + "/", "secret" if name != ".hg" else "vcs"))
            elif path.is_symlink():
                result.skipped.append((rel + "/", "symlinked directory"))
            elif ignored(path, True):
                result.skipped.append((rel + "/", "gitignored"))
            elif exclude_spec is not None and exclude_spec.match_file(rel + "/"):
                result.skipped.append((rel + "/", "excluded"))
            else:
                kept_dirs.append(name)
        dirnames[:] = kept_dirs

        for name in sorted(filenames):
            path = current / name
            rel = path.relative_to(root).as_posix()
            reason = _file_problem(
                path, rel, root, ignored, include_spec, exclude_spec, secret_spec
            )
            if reason is None:
                reason = _read_into(result, path, rel, max_file_bytes, max_total_bytes)
            if reason is not None:
                result.skipped.append((rel, reason))
    return result


def _ignored(active: list[tuple[Path, pathspec.PathSpec]], path: Path, is_dir: bool) -> bool:
    """Like git: the deepest .gitignore (of ``active``) with a matching rule or negation decides."""
    for base, spec in reversed(active):
        rel = path.relative_to(base).as_posix() + ("/" if is_dir else "")
        verdict = _verdict(spec, rel)
        if verdict is not None:
            return bool(verdict)
    return False


def _gitignore_spec(directory: Path) -> pathspec.PathSpec | None:
    gitignore = directory / ".gitignore"
    if not gitignore.is_file() or gitignore.is_symlink():
        return None
    try:
        return _spec(gitignore.read_text("utf-8", errors="replace").splitlines())
    except OSError:
        return None


def excluded_reason(
    path: Path,
    root: Path,
    *,
    include: list[str] | None = None,
    exclude: list[str] | None = None,
) -> str | None:
    """Why `collect` would leave ``path`` (inside ``root``) out by its name and place, or None.

    The same rules as a walk of ``root``: secret names, ``.gitignore`` files
    on the way down, include/exclude globs (its content is not read: check
    it with `greycloud.redaction.contains_secret`). A path that is not a file
    on disk (an unsaved document) is judged by its name.
    """
    root = root.resolve()
    path = path.resolve()
    if not is_within(path, root) or path == root:
        return "outside workspace"
    secret_spec = _spec(SECRET_FILE_PATTERNS)
    exclude_spec = _spec(exclude or [])
    active: list[tuple[Path, pathspec.PathSpec]] = []
    directory = root
    for name in path.relative_to(root).parts[:-1]:
        if (spec := _gitignore_spec(directory)) is not None:
            active.append((directory, spec))
        directory = directory / name
        rel = directory.relative_to(root).as_posix() + "/"
        if name in ALWAYS_SKIPPED_DIRS or secret_spec.match_file(rel):  # type: ignore[union-attr]
            return "secret"
        if _ignored(active, directory, True):
            return "gitignored"
        if exclude_spec is not None and exclude_spec.match_file(rel):
            return "excluded"
    if (spec := _gitignore_spec(directory)) is not None:
        active.append((directory, spec))
    rel = path.relative_to(root).as_posix()

    def ignored(candidate: Path, is_dir: bool) -> bool:
        return _ignored(active, candidate, is_dir)

    reason = _file_problem(
        path, rel, root, ignored, _spec(include or []), exclude_spec, secret_spec
    )
    return None if reason == "not a regular file" else reason


def _verdict(spec: pathspec.PathSpec, rel: str) -> bool | None:
    """True ignored, False re-included by a negation, None no rule matched."""
    check = getattr(spec, "check_file", None)
    if check is None:  # pathspec < 1.0: no negation awareness across files
        return True if spec.match_file(rel) else None
    return check(rel).include


def _file_problem(path, rel, root, ignored, include_spec, exclude_spec, secret_spec) -> str | None:  # type: ignore[no-untyped-def]
    if secret_spec.match_file(rel):
        return "secret"
    if ignored(path, False):
        return "gitignored"
    if exclude_spec is not None and exclude_spec.match_file(rel):
        return "excluded"
    if include_spec is not None and not include_spec.match_file(rel):
        return "not included"
    if path.is_symlink() and not is_within(path, root):
        return "outside workspace"
    if not path.is_file():
        return "not a regular file"
    return None


def _read_into(
    result: Collected, path: Path, rel: str, max_file_bytes: int, max_total_bytes: int
) -> str | None:
    try:
        size = path.stat().st_size
        if size > max_file_bytes:
            return f"too large ({size} bytes > maxFileBytes {max_file_bytes})"
        if result.total_bytes + size > max_total_bytes:
            return f"total size limit (maxTotalBytes {max_total_bytes})"
        data = path.read_bytes()
    except OSError as exc:
        return f"unreadable ({exc.strerror})"
    if b"\0" in data[:BINARY_SNIFF_BYTES]:
        return "binary"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "binary"
    if contains_secret(text):
        return "secret (content)"
    result.files.append((rel, path.resolve(), text))
    result.total_bytes += len(data)
    return None
