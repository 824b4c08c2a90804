"""Make sure Debian's Chromium is installed for the Playwright tests (scripts/test.sh does not do it).

The browser tests must not silently skip: when Chromium is missing and cannot be
installed, :func:`ensure_chromium` fails the test with apt's output.
"""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

CHROMIUM = "/usr/bin/chromium"

#: The marks of a module of Playwright tests: a real worker (in-process Celery) and live data (transactions), slow.
BROWSER_TEST_MARKS = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("celery_worker"),
    pytest.mark.timeout(900),  # room for apt-get to install Chromium on a fresh machine
]


def _apt(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    apt = shutil.which("apt-get")
    if apt is None:
        pytest.fail("Chromium is missing and apt-get is not available to install it (need /usr/bin/chromium).")
    command = [apt, *args]
    if os.geteuid() != 0:
        sudo = shutil.which("sudo")
        if sudo is None:
            pytest.fail("Chromium is missing and installing it needs root (no sudo available).")
        command = [sudo, "-n", *command]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)


def ensure_chromium() -> str:
    """Return the path of Debian's Chromium, installing it with apt-get when missing."""
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    install = ("install", "-y", "--no-install-recommends", "chromium")
    result = _apt(*install)
    if result.returncode != 0:
        update = _apt("update")
        if update.returncode != 0:
            pytest.fail(f"apt-get update failed while installing Chromium:\n{update.stdout[-2000:]}\n{update.stderr[-2000:]}")
        result = _apt(*install)
    if result.returncode != 0 or not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"Could not install Chromium with apt-get (needed for the browser tests):\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return CHROMIUM


if __name__ == "__main__":  # handy for a developer: python -m tests.e2e.browser_setup
    print(ensure_chromium())


def connect_in_browser(page, mailbox: str) -> None:
    """From the "Connect your Outlook calendar" page: Microsoft's (the emulator's) consent for ``mailbox``, then the
    guided step confirmed with its choices as offered; ends on the connected settings page."""
    import re

    from playwright.sync_api import expect

    page.get_by_role("button", name="Connect Microsoft Outlook").click()
    expect(page.get_by_role("heading", name="Permissions requested")).to_be_visible()
    page.get_by_label(re.compile(re.escape(mailbox))).check()
    page.get_by_role("button", name="Accept").click()
    page.get_by_role("button", name="Start syncing").click()
    expect(page.get_by_role("heading", name="Outlook calendar connected")).to_be_visible()
