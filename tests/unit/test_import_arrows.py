"""The dependency arrows of ARCHITECTURE.md, read from the source with ``ast`` (every import, also inside functions).

- no import cycle inside ``outlook_sync`` (a function-level import does not hide one);
- pages, API views and the webhook receiver never import ``outlook_sync.graph``;
- the pure sync modules (plan, merge, mapping) import neither ``graph``, nor models, nor ``django.db``;
- the events domain (``wedsync.events``) knows nothing of ``outlook_sync``.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules(package: str) -> dict[str, Path]:
    return {
        _module_name(p): p for p in (ROOT / package.replace(".", "/")).rglob("*.py")
        if "migrations" not in p.parts and "tests" not in p.relative_to(ROOT).parts[1:]
    }


def _imports(name: str, path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _graph(package: str) -> dict[str, set[str]]:
    modules = _modules(package)
    return {name: {m for m in _imports(name, path) if m in modules and m != name} for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def _package_edges(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Import edges between modules, where importing ``a.b`` from package ``a`` is an edge to ``a.b`` (not to ``a``)."""
    return {name: {t for t in targets if not name.startswith(t + ".")} for name, targets in graph.items()}


def test_no_import_cycle_inside_outlook_sync():
    cycle = _cycle(_package_edges(_graph("outlook_sync")))
    assert cycle is None, " -> ".join(cycle or [])


def _all_imports(package: str) -> dict[str, set[str]]:
    return {name: _imports(name, path) for name, path in _modules(package).items()}


def _violations(sources: dict[str, set[str]], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(f"{name} imports {target}" for name, targets in sources.items() for target in targets
                  if any(target == f or target.startswith(f + ".") for f in forbidden))


@pytest.mark.parametrize("module_prefix", ["calendar_ui", "outlook_sync.api", "outlook_sync.webhooks"])
def test_pages_api_and_receiver_never_speak_to_graph(module_prefix):
    package = module_prefix.split(".")[0]
    sources = {n: i for n, i in _all_imports(package).items() if n == module_prefix or n.startswith(module_prefix + ".")}
    assert sources, module_prefix
    assert _violations(sources, ("outlook_sync.graph",)) == []


def test_pure_sync_modules_import_no_graph_models_or_database():
    pure = {n: i for n, i in _all_imports("outlook_sync").items() if n in ("outlook_sync.sync.plan", "outlook_sync.sync.merge", "outlook_sync.sync.mapping")}
    assert len(pure) == 3
    assert _violations(pure, ("outlook_sync.graph", "outlook_sync.models", "django.db", "wedsync.events.models", "requests")) == []


def test_events_domain_knows_nothing_of_outlook():
    assert _violations(_all_imports("wedsync.events"), ("outlook_sync", "calendar_ui")) == []


def test_the_checker_sees_a_cycle():
    """The checker itself bites: a made-up graph with a cycle is found."""
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
