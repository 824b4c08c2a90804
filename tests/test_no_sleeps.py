"""The test trees never wait for time: the only sleeps are the poll intervals inside ``tests.conftest.wait_for``
and the emulator tests' ``graph_emulator/tests/conftest.wait_until``.

A fixed sleep either wastes time or, on a busy machine, is too short and the
test looks before the thing happened (a flake) or checks an absence that has
not had the chance to appear (a test that cannot fail). Wait for something
observable instead: ``wait_for(predicate)``, ``settle()`` (the worker executed
every task sent to it and the emulator is quiet), ``TASKS.sent_since(mark)``.

Benchmarks (``tests/bench/``, not part of the suite) may pace themselves.
"""
from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
#: The project's tests and the emulator's own (which import nothing from the project, so have their own poll helper).
TREES = (TESTS, ROOT / "graph_emulator" / "tests")
ALLOWED = {("tests/conftest.py", "wait_for"), ("graph_emulator/tests/conftest.py", "wait_until")}  # (file, enclosing function)
SLEEPS = {"sleep"}  # time.sleep, asyncio.sleep, from time import sleep


def _sleep_calls(path: Path) -> list[tuple[int, str | None]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str | None]] = []

    def visit(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            name = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            if isinstance(child, ast.Call):
                target = child.func
                called = target.attr if isinstance(target, ast.Attribute) else target.id if isinstance(target, ast.Name) else None
                if called in SLEEPS:
                    found.append((child.lineno, function))
            visit(child, name)

    visit(tree, None)
    return found


def test_no_sleep_outside_wait_for():
    offenders = []
    files = [p for tree in TREES for p in tree.rglob("*.py") if "bench" not in p.relative_to(tree).parts]
    assert len(files) > 20 and any("graph_emulator" in p.parts for p in files)  # the walk found both test trees
    for path in files:
        relative = str(path.relative_to(ROOT))
        for line, function in _sleep_calls(path):
            if (relative, function) not in ALLOWED:
                offenders.append(f"{relative}:{line} (in {function or 'module'})")
    assert not offenders, "fixed sleeps in tests (wait for something observable instead):\n" + "\n".join(offenders)


def test_the_checker_finds_sleeps(tmp_path):
    """The check itself can fail: it sees every spelling of a sleep."""
    sample = tmp_path / "sample.py"
    sample.write_text("import time, asyncio\nfrom time import sleep\n"
                      "def f():\n    time.sleep(1)\n    sleep(2)\n"
                      "async def g():\n    await asyncio.sleep(3)\n")
    assert [line for line, _ in _sleep_calls(sample)] == [4, 5, 7]
