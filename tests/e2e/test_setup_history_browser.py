"""The guided connect step and the history that explains (issue 17, with issue 18's undo), in Debian's Chromium.

Same set-up as ``test_outlook_browser.py`` (pytest-django's live server, the
Graph emulator over HTTP, a real Celery worker). Every page visited passes the
axe-core check (0 serious or critical). Screenshots go to
``test-artifacts/e2e/setup-*.png`` and ``history-*.png``.
"""
from __future__ import annotations

import re


from outlook_sync.models import OutlookCalendarIntegration, OutlookEventMapping, OutlookSyncHistory
from tests.conftest import MAILBOX, wait_for
from tests.e2e.accessibility import assert_accessible
from tests.e2e.test_outlook_browser import ARTIFACTS, PASSWORD, TIMEOUT_MS, chromium_executable, outlook, page  # noqa: F401 (fixtures)
from tests.e2e.test_undo_browser import _idle
from tests.integration.outlook_helpers import at, graph_when
from wedsync.events import actions as event_actions
from tests.e2e.browser_setup import BROWSER_TEST_MARKS

pytestmark = BROWSER_TEST_MARKS


def _sign_in_and_consent(page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/?next=/calendar/outlook/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Connect Microsoft Outlook").click()
    page.get_by_label(re.compile(re.escape(MAILBOX))).check()
    page.get_by_role("button", name="Accept").click()


def _sync_now(page, base: str, integration) -> None:
    """Click "Sync now" and wait until that run (asked for by an htmx request after the click) has finished."""
    asked = OutlookSyncHistory.objects.filter(integration=integration).count()
    page.goto(f"{base}/calendar/outlook/")
    page.get_by_role("button", name="Sync now").click()
    wait_for(lambda: OutlookSyncHistory.objects.filter(integration=integration).count() > asked, message="the run to be asked for")
    _idle(integration)


def _ours(outlook) -> list[dict]:
    return [e for e in outlook.events(MAILBOX) if e["subject"].startswith("WedSync: ")]


def test_connect_is_a_guided_step_with_calendars_busy_calendars_invitations_and_a_preview(page, live_server, outlook, supplier):
    from playwright.sync_api import expect

    shot = lambda name: page.screenshot(path=str(ARTIFACTS / f"setup-{name}.png"), full_page=True)  # noqa: E731
    for n, (title, kind) in enumerate([("Consultation with Priya", "client_meeting"), ("Venue visit with Sam", "venue_visit"), ("Ceremony: Priya & Sam", "wedding_ceremony")]):
        event_actions.create_event(supplier, event_type=kind, title=title, starts_at=at(3 + n, 14), ends_at=at(3 + n, 15), time_zone="UTC",
                                   attendees=[] if kind == "wedding_ceremony" else [{"name": "Priya", "email": "priya@example.com"}])
    work = outlook.create_calendar(MAILBOX, "Work")
    family = outlook.create_calendar(MAILBOX, "Family")
    outlook.create_event(MAILBOX, {"subject": "School play", **graph_when(at(7, 10), at(7, 11)), "showAs": "busy"}, calendar_id=family["id"])

    _sign_in_and_consent(page, live_server.url, supplier.username)

    # The guided step: nothing is in Outlook yet, and the preview says what starting will do.
    expect(page.get_by_role("heading", name="Choose how WedSync uses your Outlook")).to_be_visible()
    preview = page.locator("#setup-preview-summary")
    expect(preview).to_contain_text("3 events will be added to “Calendar”; no one will be emailed.")
    assert_accessible(page, "setup")
    shot("01-choices")
    integration = OutlookCalendarIntegration.objects.get(user=supplier)
    assert integration.needs_setup and _ours(outlook) == [] and not OutlookSyncHistory.objects.filter(integration=integration).exists()
    # Leaving the step does not start anything either: the settings page sends the supplier back to it.
    page.goto(f"{live_server.url}/calendar/outlook/")
    expect(page.get_by_role("heading", name="Choose how WedSync uses your Outlook")).to_be_visible()

    # Choices redraw the preview: another calendar, a busy calendar, fewer invitation types.
    page.get_by_role("group", name="Add WedSync events to").get_by_label("Work").check()
    expect(preview).to_contain_text("3 events will be added to “Work”; no one will be emailed.")
    page.get_by_role("group", name="Check these calendars for double bookings").get_by_label("Family").check()
    expect(preview).to_contain_text("Double bookings will be checked against “Work” and “Family”.")
    page.get_by_role("group", name="Send Outlook invitations to clients for").get_by_label("Venue visit").uncheck()
    expect(preview).to_contain_text("Later, a single new client meeting, engagement shoot or vendor meeting you add will send its guests an Outlook invitation.")
    assert_accessible(page, "setup with choices")
    shot("02-preview")
    assert _ours(outlook) == []  # still nothing written

    page.get_by_role("button", name="Start syncing").click()
    expect(page.get_by_role("heading", name="Outlook calendar connected")).to_be_visible()
    expect(page.locator("#messages")).to_contain_text("3 events will be added to “Work”; no one will be emailed.")
    expect(page.locator("#sync-progress-percent")).to_have_text("100%", timeout=TIMEOUT_MS)
    _idle(integration)
    shot("03-started")
    assert len(outlook.events(MAILBOX, calendar_id=work["id"])) == 3 and outlook.invitations() == []
    integration.refresh_from_db()
    assert integration.calendar_id == work["id"] and "venue_visit" not in integration.sync_preferences["inviteAttendeesFor"]

    # The ticked Family calendar counts as busy: the event form warns, naming it.
    page.goto(f"{live_server.url}/calendar/events/new/")
    page.get_by_label("Title").fill("Menu tasting")
    page.get_by_label("Time zone").select_option("UTC")
    page.get_by_label("Starts").fill(at(7, 10, 30).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Ends").fill(at(7, 11, 30).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Ends").blur()
    expect(page.locator("#busy-check")).to_contain_text("You have “School play” in Outlook (your “Family” calendar) at that time.")
    shot("04-busy-calendar-warning")


def test_history_names_each_run_expands_to_old_and_new_per_side_and_undoes(page, live_server, outlook, supplier):
    from playwright.sync_api import expect

    shot = lambda name: page.screenshot(path=str(ARTIFACTS / f"history-{name}.png"), full_page=True)  # noqa: E731
    consultation = event_actions.create_event(supplier, event_type="client_meeting", title="Consultation with Priya", location="The Old Barn",
                                              starts_at=at(3, 14), ends_at=at(3, 15), time_zone="UTC")
    event_actions.create_event(supplier, event_type="wedding_ceremony", title="Ceremony: Priya & Sam", starts_at=at(5, 15), ends_at=at(5, 16), time_zone="UTC")
    _sign_in_and_consent(page, live_server.url, supplier.username)
    page.get_by_role("button", name="Start syncing").click()
    expect(page.locator("#sync-progress-percent")).to_have_text("100%", timeout=TIMEOUT_MS)
    integration = OutlookCalendarIntegration.objects.get(user=supplier)
    _idle(integration)

    # In Outlook the assistant moves the consultation and renames its place; a sync brings it over.
    copy = OutlookEventMapping.objects.get(integration=integration, event=consultation)
    outlook.update_event(MAILBOX, copy.outlook_event_id, {**graph_when(at(4, 9), at(4, 10)), "location": {"displayName": "The New Barn"}})
    _sync_now(page, live_server.url, integration)
    assert integration.changes.filter(side="wedsync", event_title="Consultation with Priya").exists()
    # Echoes: a quick update that changes nothing is folded away.
    _sync_now(page, live_server.url, integration)

    page.goto(f"{live_server.url}/calendar/outlook/")
    expect(page.locator("#sync-history")).to_contain_text("Consultation with Priya")
    page.get_by_role("link", name="See what each sync changed, and undo it").click()
    expect(page.get_by_role("heading", name="What each sync changed")).to_be_visible()
    expect(page.locator("#history-folded")).to_contain_text("changed nothing")
    runs = page.locator(".history-run")
    expect(runs).to_have_count(2)  # the move and the first sync; the empty quick update is folded away
    move = runs.first
    expect(move.locator(".history-names")).to_have_text("Consultation with Priya")
    move.locator("summary").click()
    change = move.locator(".history-change").filter(has_text="WedSync: changed “Consultation with Priya”")
    expect(change).to_be_visible()
    expect(change.get_by_role("row", name=re.compile("Location"))).to_contain_text("The Old Barn")
    expect(change.get_by_role("row", name=re.compile("Location"))).to_contain_text("The New Barn")
    expect(change.get_by_role("row", name=re.compile("Date & time"))).to_be_visible()
    assert_accessible(page, "history expanded")
    shot("01-expanded")

    # Filter by event: only the runs that changed the ceremony (the first sync added it to Outlook).
    page.get_by_label("Event", exact=True).select_option(label="Ceremony: Priya & Sam")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("heading", name="Syncs that changed “Ceremony: Priya & Sam”")).to_be_visible()
    expect(page.locator(".history-run")).to_have_count(1)
    page.locator(".history-run summary").click()
    expect(page.locator(".history-change")).to_have_count(1)
    expect(page.locator(".history-change")).to_contain_text("Outlook: added “Ceremony: Priya & Sam”")
    shot("02-filtered")

    # Undo this sync, from the expanded run: the confirmation says what changes on each side.
    page.goto(f"{live_server.url}/calendar/outlook/history/")
    page.locator(".history-run").first.locator("summary").click()
    page.locator(".history-run").first.get_by_role("link", name="Undo this sync").click()
    expect(page.get_by_role("heading", name="Undo this sync?")).to_be_visible()
    expect(page.locator("#undo-wedsync")).to_contain_text("Consultation with Priya")
    assert_accessible(page, "undo confirmation")
    shot("03-undo-confirm")
    page.get_by_role("button", name="Yes, undo this sync").click()
    _idle(integration)
    wait_for(lambda: (consultation.refresh_from_db() or consultation.location == "The Old Barn"), message="the undo to put the place back")
    assert consultation.starts_at == at(3, 14)
    page.goto(f"{live_server.url}/calendar/outlook/history/")
    undo_run = page.locator(".history-run").first
    expect(undo_run).to_contain_text("you undid a sync")
    undo_run.locator("summary").click()
    expect(undo_run.locator(".history-change").first).to_be_visible()
    expect(undo_run.get_by_role("link", name="Undo this undo")).to_be_visible()
    shot("04-after-undo")
