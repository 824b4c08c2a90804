"""Undo from the history in a real browser (issue 18 acceptance).

Debian's Chromium driven by Playwright against the live server, the Graph
emulator and a real Celery worker: the assistant drags a ceremony in Outlook,
the supplier opens the sync in the history, reads what "Undo this sync" will
change on each side, confirms, and both calendars are back. Screenshots go to
``test-artifacts/e2e/undo-*.png``.
"""
from __future__ import annotations

import datetime as dt
import re


from outlook_sync.models import OutlookCalendarIntegration, OutlookEventMapping, OutlookSyncChange, OutlookSyncHistory
from tests.conftest import MAILBOX, wait_for
from tests.e2e.test_outlook_browser import (  # noqa: F401  (fixtures)
    ARTIFACTS,
    PASSWORD,
    TIMEOUT_MS,
    chromium_executable,
    outlook,
    page,
)
from tests.integration.outlook_helpers import at, graph_when
from wedsync.events import actions as event_actions
from wedsync.events.models import CalendarEvent
from tests.e2e.browser_setup import BROWSER_TEST_MARKS

pytestmark = BROWSER_TEST_MARKS


def _idle(integration) -> None:
    wait_for(lambda: not OutlookSyncHistory.objects.filter(integration=integration, sync_status="in_progress").exists(),
             timeout=60, message="sync runs to finish")


def test_supplier_undoes_an_outlook_move_from_the_history(page, live_server, outlook, supplier):
    from playwright.sync_api import expect

    shots = iter(range(1, 100))

    def shot(name: str) -> None:
        page.screenshot(path=str(ARTIFACTS / f"undo-{next(shots):02d}-{name}.png"), full_page=True)

    original = at(5, 15)
    ceremony = event_actions.create_event(supplier, event_type="wedding_ceremony", title="Ceremony: Priya & Sam", location="The Old Barn",
                                          starts_at=original, ends_at=original + dt.timedelta(hours=1), time_zone="UTC")
    page.goto(f"{live_server.url}/accounts/login/?next=/calendar/outlook/")
    page.get_by_label("Username").fill(supplier.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Connect Microsoft Outlook").click()
    page.get_by_label(re.compile(re.escape(MAILBOX))).check()
    page.get_by_role("button", name="Accept").click()
    page.get_by_role("button", name="Start syncing").click()  # the guided step, choices as offered
    expect(page.locator("#sync-progress-percent")).to_have_text("100%", timeout=TIMEOUT_MS)
    integration = OutlookCalendarIntegration.objects.get(user=supplier)
    _idle(integration)
    copy = OutlookEventMapping.objects.get(integration=integration, wedsync_event_id=str(ceremony.pk)).outlook_event_id

    # The assistant drags the ceremony to the next morning in Outlook; a sync takes it into WedSync.
    moved = at(6, 9)
    outlook.update_event(MAILBOX, copy, graph_when(moved, moved + dt.timedelta(hours=1)))
    page.goto(f"{live_server.url}/calendar/outlook/")
    page.get_by_role("button", name="Sync now").click()
    wait_for(lambda: CalendarEvent.objects.get(pk=ceremony.pk).starts_at == moved, timeout=30, message="the move reaching WedSync")
    _idle(integration)
    the_sync = OutlookSyncChange.objects.get(integration=integration, side="wedsync", kind="updated").run
    page.goto(f"{live_server.url}/calendar/outlook/")
    undo_link = page.locator(f'a.undo-run[href$="/sync/{the_sync.pk}/undo/"]')
    expect(undo_link).to_have_text("Undo this sync")
    shot("history-with-undo")

    # The confirmation says what changes on each side.
    undo_link.click()
    expect(page.get_by_role("heading", name="Undo this sync?")).to_be_visible()
    expect(page.locator("#undo-wedsync")).to_contain_text("“Ceremony: Priya & Sam”: time goes back to")
    expect(page.locator("#undo-outlook")).to_contain_text("“Ceremony: Priya & Sam”: time goes back to")
    expect(page.locator("#undo-wedsync")).to_contain_text(f"goes back to {original:%a %-d %b %Y, %H:%M}–{original + dt.timedelta(hours=1):%H:%M} UTC "
                                                          f"(now {moved:%a %-d %b %Y, %H:%M}–")
    expect(page.locator(".undo-change")).to_have_count(1)
    expect(page.locator(".undo-change a.undo-one")).to_have_text("Undo")
    shot("confirm-undo")
    page.get_by_role("button", name="Yes, undo this sync").click()
    expect(page.locator("#messages")).to_contain_text("Undo started.")
    shot("undo-started")

    wait_for(lambda: CalendarEvent.objects.get(pk=ceremony.pk).starts_at == original, timeout=30, message="WedSync back at the old time")
    wait_for(lambda: outlook.event(MAILBOX, copy)["start"]["dateTime"][:16] == original.strftime("%Y-%m-%dT%H:%M"), timeout=30,
             message="Outlook back at the old time")
    _idle(integration)
    undo_run = OutlookSyncHistory.objects.get(integration=integration, mode="undo")
    assert undo_run.sync_status == "completed" and not undo_run.sync_errors

    # The history shows the undo run, which can itself be undone; the undone sync's change says so.
    page.goto(f"{live_server.url}/calendar/outlook/")
    expect(page.locator(f'a.undo-run[href$="/sync/{undo_run.pk}/undo/"]')).to_have_text("Undo this undo")
    expect(page.locator(f'a.undo-run[href$="/sync/{the_sync.pk}/undo/"]')).to_have_text("Undo this sync")
    shot("history-after-undo")
    page.goto(f"{live_server.url}/calendar/outlook/sync/{the_sync.pk}/undo/")
    expect(page.locator("#undo-nothing")).to_be_visible()
    expect(page.locator(".undo-change .badge")).to_have_text("Undone")
    shot("already-undone")
