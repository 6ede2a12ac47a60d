"""greycloud_lsp's modules import each other without a circle.

Every import counts: at module level, inside functions and under
``TYPE_CHECKING``, plus the feature modules ``create_server`` loads by name.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import greycloud_lsp
from greycloud_lsp.server import FEATURE_MODULES

PACKAGE = Path(greycloud_lsp.__file__).resolve().parent
NAME = "greycloud_lsp"


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join([NAME, *parts])] = path
    return found


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node but those under ``if TYPE_CHECKING:`` (imports for annotations only)."""
    nodes: list[ast.AST] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        nodes.append(node)
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))
    return nodes


def _imports(module: str, path: Path, known: set[str]) -> set[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    targets: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for name in names:
            while name and name not in known:  # `from .x import y`: y may be a function
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
    return targets


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph = {m: _imports(m, p, set(modules)) for m, p in modules.items()}
    graph[f"{NAME}.server"] |= set(FEATURE_MODULES)
    for edges in graph.values():  # importing a.b runs a/__init__ first: not a real dependency
        edges.discard(NAME)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    visiting: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> list[str] | None:
        if node in visiting:
            return [*visiting[visiting.index(node) :], node]
        if node in done:
            return None
        visiting.append(node)
        for target in sorted(graph.get(node, ())):
            if (cycle := visit(target)) is not None:
                return cycle
        visiting.pop()
        done.add(node)
        return None

    for node in sorted(graph):
        if (cycle := visit(node)) is not None:
            return cycle
    return None


def test_no_import_cycle_in_greycloud_lsp():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def _feature_modules(graph: dict[str, set[str]]) -> list[str]:
    return [m for m in graph if m.startswith(f"{NAME}.features.")]


def test_every_feature_is_a_package_under_features():
    for module in FEATURE_MODULES:
        assert module.startswith(f"{NAME}.features."), module
        assert (PACKAGE / module.split(".", 1)[1].replace(".", "/") / "__init__.py").exists()


def test_features_never_import_the_server():
    graph = import_graph()
    for module in _feature_modules(graph):
        assert f"{NAME}.server" not in graph[module], f"{module} imports greycloud_lsp.server"


def test_shared_helpers_import_nothing_of_the_server():
    graph = import_graph()
    server_side = {f"{NAME}.server", f"{NAME}.language_server", *_feature_modules(graph)}
    helpers = [m for m in graph if m.startswith(f"{NAME}.common.")]
    shared = ("shared_state", "shared_caches", "shared_clients", "background_work")
    helpers += [f"{NAME}.{m}" for m in (*shared, "_pygls_compat", "settings")]
    for helper in helpers:
        imported = graph[helper] & server_side
        assert not imported, f"{helper} imports {sorted(imported)}"


def test_the_forwarder_side_imports_nothing_of_the_daemon_side():
    """The editor's side (forwarder, wire) must start fast and stand alone."""
    graph = import_graph()
    daemon_side = {m for m in graph if not m.startswith((f"{NAME}.forwarder", f"{NAME}.wire"))}
    # Light helpers of the standard library only: log files, process checks, LSP text rules.
    light = ("log_files", "processes", "lsp_text")
    daemon_side -= {f"{NAME}.common", *(f"{NAME}.common.{name}" for name in light)}
    for module in (m for m in graph if m.startswith((f"{NAME}.forwarder", f"{NAME}.wire"))):
        imported = graph[module] & daemon_side
        assert not imported, f"{module} imports {sorted(imported)}"
    for name in light:  # and they stay light: nothing of the package, no pygls
        assert not graph[f"{NAME}.common.{name}"], f"common.{name} imports the package"


def test_the_forwarder_starts_without_pygls_or_the_gemini_stack():
    code = (
        "import sys, greycloud_lsp.forwarder.relay, greycloud_lsp.command_line;"
        "heavy = [m for m in ('pygls', 'lsprotocol', 'google.genai') if m in sys.modules];"
        "assert not heavy, heavy"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr


def test_server_side_modules_import_first_in_a_fresh_interpreter():
    """No module depends on another having been imported before it."""
    for module in sorted({f"{NAME}.server", f"{NAME}.language_server", *FEATURE_MODULES}):
        run = subprocess.run(
            [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, check=False
        )
        assert run.returncode == 0, f"import {module} failed:\n{run.stderr}"
