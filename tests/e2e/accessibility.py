"""The accessibility check of the browser tests: axe-core (npm package, pinned in tests/e2e/axe/package.json) run in the page.

:func:`assert_accessible` injects axe-core into the current page with
Playwright and fails on any violation of impact "serious" or "critical",
naming the rule and the offending elements.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

AXE_DIR = Path(__file__).resolve().parent / "axe"
AXE_JS = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"


def axe_source() -> str:
    """axe-core's browser build; installed with ``npm ci`` from the lock file when missing (never skipped)."""
    if not AXE_JS.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("axe-core is missing and npm is not installed (apt-get install npm), needed for the accessibility check.")
        result = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=AXE_DIR, capture_output=True, text=True, timeout=600)
        if result.returncode != 0 or not AXE_JS.exists():
            pytest.fail(f"npm ci of axe-core failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return AXE_JS.read_text()


def assert_accessible(page, label: str) -> None:
    """0 serious or critical axe-core violations on the page as it is now."""
    # Evaluated through the DevTools protocol, so the page's CSP (script-src 'self') stays in force for our own scripts.
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate("(source) => { (0, eval)(source); }", axe_source())
    results = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    bad = [v for v in results["violations"] if v.get("impact") in ("serious", "critical")]
    described = [f"{v['id']} ({v['impact']}): {v['help']} -- {[n['target'] for n in v['nodes']][:5]}" for v in bad]
    assert not bad, f"{label}: {len(bad)} serious/critical accessibility violation(s):\n" + "\n".join(described)
