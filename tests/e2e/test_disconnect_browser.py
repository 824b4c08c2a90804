"""Disconnecting in Debian's Chromium: both choices, the progress the page polls, a busy Outlook (issues 13 and 17).

Same set-up as ``test_outlook_browser.py`` (pytest-django's live server, the Graph emulator, a real Celery
worker). The emulator's fault injection plays an Outlook that keeps answering "slow down" for one copy, so
the page is seen mid-way ("Disconnecting… 3 of 4 removed", "Outlook is busy, we'll keep trying."). Every page
is checked with axe-core. Screenshots go to ``test-artifacts/e2e/disconnect-*.png``.
"""
from __future__ import annotations

import re


from outlook_sync.models import OutlookCalendarIntegration, OutlookEventMapping, OutlookSyncHistory
from tests.conftest import MAILBOX, wait_for
from tests.e2e.accessibility import assert_accessible
from tests.e2e.test_journey_browser import _sign_in
from tests.e2e.test_outlook_browser import ARTIFACTS, PASSWORD, TIMEOUT_MS, chromium_executable, outlook, page  # noqa: F401 (fixtures)
from tests.integration.outlook_helpers import at, graph_when
from wedsync.events import actions as event_actions
from tests.e2e.browser_setup import BROWSER_TEST_MARKS, connect_in_browser

pytestmark = BROWSER_TEST_MARKS


def _shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"disconnect-{name}.png"), full_page=True)


def _connect(page, supplier) -> OutlookCalendarIntegration:
    connect_in_browser(page, MAILBOX)  # consent, then the guided step with its choices as offered
    integration = OutlookCalendarIntegration.objects.get(user=supplier)
    wait_for(lambda: OutlookEventMapping.objects.filter(integration=integration).count() == 4 and not OutlookSyncHistory.objects.filter(
        integration=integration, sync_status__in=["queued", "in_progress"]).exists(), timeout=60, message="the first sync")
    return integration


def test_disconnect_shows_progress_while_outlook_is_busy_then_both_choices_end_with_their_counts(page, live_server, outlook, supplier, settings):
    from playwright.sync_api import expect

    settings.DISCONNECT_RETRY_SECONDS = 0.5
    for n in range(4):
        event_actions.create_event(supplier, event_type="client_meeting", title=f"Meeting {n + 1}", starts_at=at(2 + n, 10),
                                   ends_at=at(2 + n, 11), time_zone="Europe/London")
    outlook.create_event(MAILBOX, {"subject": "Dentist", **graph_when(at(3, 14), at(3, 15))})
    _sign_in(page, live_server.url, supplier.username, PASSWORD, "/calendar/outlook/")
    integration = _connect(page, supplier)

    # 1. Remove WedSync's events, while Outlook keeps throttling the delete of one copy.
    stuck = OutlookEventMapping.objects.filter(integration=integration).order_by("outlook_event_id").last().outlook_event_id
    outlook.inject_fault("DELETE", re.escape(stuck), status=429, retry_after=0, count=None)
    page.goto(f"{live_server.url}/calendar/outlook/")
    page.get_by_role("link", name="Disconnect Outlook…").click()
    expect(page.locator("#disconnect-consequence")).to_contain_text("Removing takes the 4 events WedSync added")
    page.get_by_label("Remove WedSync's events from Outlook").check()
    page.get_by_role("button", name="Yes, disconnect Outlook").click()
    expect(page.locator("#disconnect-summary")).to_have_text("Disconnecting… 3 of 4 removed.", timeout=TIMEOUT_MS)  # the page polls
    expect(page.locator("#disconnect-problem")).to_have_text("Outlook is busy, we'll keep trying.")
    assert_accessible(page, "disconnect in progress")
    _shot(page, "01-in-progress-outlook-busy")

    outlook.clear_faults()  # Outlook answers again: the same page, still polling, shows the outcome
    expect(page.locator("#disconnect-summary")).to_contain_text(
        "Outlook is disconnected. We removed 4 events WedSync had added to your Outlook calendar", timeout=TIMEOUT_MS)
    assert [e["subject"] for e in outlook.events(MAILBOX)] == ["Dentist"]
    assert_accessible(page, "disconnected, events removed")
    _shot(page, "02-removed")

    # 2. Connect again, then leave the copies in Outlook as ordinary events.
    page.get_by_role("link", name="Connect Outlook again").click()
    _connect(page, supplier)
    before = sorted((e["id"], e["subject"]) for e in outlook.events(MAILBOX))
    assert len(before) == 5
    page.goto(f"{live_server.url}/calendar/outlook/disconnect/")
    page.get_by_label("Leave them in Outlook as ordinary events (WedSync stops updating them)").check()
    _shot(page, "03-choose-keep")
    page.get_by_role("button", name="Yes, disconnect Outlook").click()
    expect(page.locator("#disconnect-summary")).to_contain_text(
        "Outlook is disconnected. We left 4 events in your Outlook calendar as ordinary events", timeout=TIMEOUT_MS)
    assert sorted((e["id"], e["subject"]) for e in outlook.events(MAILBOX)) == before  # nothing in Outlook was touched
    assert outlook.invitations() == []
    assert_accessible(page, "disconnected, events kept")
    _shot(page, "04-kept")
    assert (ARTIFACTS / "disconnect-04-kept.png").exists()
