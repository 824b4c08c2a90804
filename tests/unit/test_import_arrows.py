"""The dependency arrows of ARCHITECTURE.md, read from the source with ``ast`` (every import, also inside functions).

- no import cycle inside ``outlook_sync`` (a function-level import does not hide one);
- pages, API views and the webhook receiver never import ``outlook_sync.graph`` (the receiver may read
  notifications with the I/O-free ``graph.types``);
- the pure sync modules (plan, merge, mapping) import neither ``graph`` (but its I/O-free ``types`` and
  ``timezones``), nor models, nor ``django.db``;
- ``graph`` imports nothing of ``outlook_sync`` outside ``graph``;
- only ``graph`` speaks Graph JSON: no module outside it imports ``graph.wire`` or the client's raw request and
  response classes, parses Graph JSON (``GraphEvent.from_json``, ``GraphError.from_parts``...), or names a key
  only Graph JSON has (``"changeKey"``, ``"@odata.etag"``, ``"singleValueExtendedProperties"``...);
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


#: The modules of ``graph`` that do no I/O (dataclasses, time zone names): importing them is not speaking to Graph.
PURE_GRAPH = ("outlook_sync.graph.types", "outlook_sync.graph.timezones")


def _without_pure_graph(sources: dict[str, set[str]]) -> dict[str, set[str]]:
    return {n: {t for t in targets if not any(t == p or t.startswith(p + ".") for p in PURE_GRAPH)} for n, targets in sources.items()}


@pytest.mark.parametrize("module_prefix", ["calendar_ui", "outlook_sync.api", "outlook_sync.webhooks"])
def test_pages_api_and_receiver_never_speak_to_graph(module_prefix):
    package = module_prefix.split(".")[0]
    sources = {n: i for n, i in _all_imports(package).items() if n == module_prefix or n.startswith(module_prefix + ".")}
    assert sources, module_prefix
    allowed = _without_pure_graph(sources) if module_prefix == "outlook_sync.webhooks" else sources
    assert _violations(allowed, ("outlook_sync.graph",)) == []


def test_pure_sync_modules_import_no_graph_models_or_database():
    pure = {n: i for n, i in _all_imports("outlook_sync").items() if n in ("outlook_sync.sync.plan", "outlook_sync.sync.merge", "outlook_sync.sync.mapping")}
    assert len(pure) == 3
    assert _violations(_without_pure_graph(pure), ("outlook_sync.graph", "outlook_sync.models", "django.db", "wedsync.events.models", "requests")) == []


def test_the_pure_graph_modules_do_no_io():
    """What the pure modules and the receiver may import from ``graph`` imports nothing that talks to anyone."""
    sources = {n: i for n, i in _all_imports("outlook_sync").items() if n in PURE_GRAPH}
    assert len(sources) == len(PURE_GRAPH)
    io = ("requests", "msal", "django", "redis", "outlook_sync")
    assert _violations(_without_pure_graph(sources), io) == []


def test_graph_imports_nothing_of_outlook_sync_outside_graph():
    graph = {n: i for n, i in _all_imports("outlook_sync").items() if n == "outlook_sync.graph" or n.startswith("outlook_sync.graph.")}
    outside = {t for targets in graph.values() for t in targets if t.startswith("outlook_sync.") and not t.startswith("outlook_sync.graph")}
    assert sorted(f"{n} imports {t}" for n, targets in graph.items() for t in targets if t in outside) == []


#: Names that hand out Graph JSON: the serializer module, the client's raw request and response types.
RAW_GRAPH = ("outlook_sync.graph.wire", "outlook_sync.graph.client.BatchRequest", "outlook_sync.graph.client.GraphResponse")
#: Parsers of Graph JSON (called on a class or module imported from ``graph``).
PARSERS = {"from_json", "from_parts", "from_response"}
#: Keys that only Graph JSON has. Keys WedSync's own API shares with it (``isDefaultCalendar``, ``subscriptionId``,
#: ``isAllDay``, ``showAs``) are not here.
GRAPH_KEYS = {
    "@odata.etag", "@odata.nextLink", "@odata.deltaLink", "@removed", "changeKey", "transactionId",
    "singleValueExtendedProperties", "reminderMinutesBeforeStart", "isReminderOn", "contentType", "displayName", "emailAddress",
    "dateTime", "timeZone", "originalStartTimeZone", "seriesMasterId", "clientState", "resourceData",
    "lifecycleEvent", "notificationUrl", "lifecycleNotificationUrl", "expirationDateTime", "changeType", "hexColor",
}


def _outside_graph(package: str) -> dict[str, Path]:
    return {n: p for n, p in _modules(package).items() if not (n == "outlook_sync.graph" or n.startswith("outlook_sync.graph."))}


def _graph_json_uses(name: str, path: Path) -> list[str]:
    """Where a module speaks Graph JSON: imports of raw helpers, parser calls on graph names, Graph-only keys."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = [f"imports {t}" for t in sorted(_imports(name, path)) if any(t == r or t.startswith(r + ".") for r in RAW_GRAPH)]
    from_graph: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and ((node.module or "").startswith("outlook_sync.graph") or (node.level and (node.module or "").startswith("graph"))):
            from_graph.update(alias.asname or alias.name for alias in node.names)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in PARSERS and isinstance(node.value, ast.Name) and node.value.id in from_graph:
            found.append(f"line {node.lineno}: {node.value.id}.{node.attr}")
        keys: list = []
        if isinstance(node, ast.Dict):
            keys = node.keys
        elif isinstance(node, ast.Subscript):
            keys = [node.slice]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("get", "pop", "setdefault") and node.args:
            keys = [node.args[0]]
        found += [f"line {node.lineno}: {k.value!r}" for k in keys if isinstance(k, ast.Constant) and k.value in GRAPH_KEYS]
    return found


@pytest.mark.parametrize("package", ["outlook_sync", "calendar_ui"])
def test_only_graph_speaks_graph_json(package):
    uses = {name: _graph_json_uses(name, path) for name, path in _outside_graph(package).items()}
    assert {name: found for name, found in uses.items() if found} == {}


def test_the_graph_json_check_bites():
    """The checker finds a payload built outside ``graph`` and a raw parse, as they looked before they moved."""
    sample = ROOT / "outlook_sync" / "graph" / "wire.py"
    assert _graph_json_uses("outlook_sync.graph.wire", sample), "wire.py builds Graph JSON, so the check must see it"
    tree_text = 'from ..graph.types import GraphEvent\nbody = {"subject": s, "transactionId": t}\nGraphEvent.from_json(answer.body)\n'
    probe = ROOT / "outlook_sync" / "sync" / "__probe_not_a_module.py"
    try:
        probe.write_text(tree_text)
        assert len(_graph_json_uses("outlook_sync.sync.__probe_not_a_module", probe)) == 2
    finally:
        probe.unlink()


def test_events_domain_knows_nothing_of_outlook():
    assert _violations(_all_imports("wedsync.events"), ("outlook_sync", "calendar_ui")) == []


def test_the_checker_sees_a_cycle():
    """The checker itself bites: a made-up graph with a cycle is found."""
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
