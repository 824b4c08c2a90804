"""The supplier's Outlook journey in a real browser (issue 8 acceptance).

Debian's Chromium driven by Playwright against pytest-django's live server,
the Graph emulator (its consent page, and its control API standing in for the
supplier editing Outlook) and a real Celery worker. A screenshot of every step
goes to ``test-artifacts/e2e/``.
"""
from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from outlook_sync.models import OutlookCalendarIntegration, OutlookEventMapping, OutlookSyncHistory
from tests.conftest import CLIENT_ID, CLIENT_SECRET, MAILBOX, wait_for
from tests.e2e.browser_setup import BROWSER_TEST_MARKS, ensure_chromium
from tests.integration.outlook_helpers import at, graph_when
from wedsync.events import actions as event_actions
from wedsync.events.models import CalendarEvent

pytestmark = BROWSER_TEST_MARKS

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
PASSWORD = "correct horse 9"  # the conftest supplier's
TIMEOUT_MS = 30_000
PREFIX = "WedSync: "


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    return ensure_chromium()


@pytest.fixture
def page(chromium_executable, monkeypatch):
    """A fresh Chromium page. Playwright is started per test so that its event loop is gone before the database is flushed."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop on this thread; the ORM calls made by the test itself are still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_executable, headless=True,
                                             args=["--no-sandbox", "--disable-dev-shm-usage"])
        context = browser.new_context(ignore_https_errors=True, viewport={"width": 1200, "height": 900})  # the emulator's own CA
        context.set_default_timeout(TIMEOUT_MS)
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()


@pytest.fixture
def outlook(graph, live_server, settings):
    """The emulator with the live server registered as the app's redirect URI."""
    settings.MICROSOFT_REDIRECT_URI = f"{live_server.url}/calendar/outlook/callback/"
    graph.register_app(CLIENT_ID, CLIENT_SECRET, [settings.MICROSOFT_REDIRECT_URI])
    # The live server serves static files through the finders, not the hashed manifest collectstatic writes.
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    # The CSP's form-action names Microsoft's sign-in host (read at start-up); here that host is the emulator's.
    authority = urlsplit(settings.MICROSOFT_AUTHORITY)
    policy = copy.deepcopy(settings.CONTENT_SECURITY_POLICY)
    policy["DIRECTIVES"]["form-action"].append(f"{authority.scheme}://{authority.netloc}")
    settings.CONTENT_SECURITY_POLICY = policy
    return graph


class Steps:
    def __init__(self, page, base_url: str):
        self.page = page
        self.base_url = base_url
        self.number = 0

    def shot(self, name: str, *, full_page: bool = True) -> None:
        self.number += 1
        self.page.screenshot(path=str(ARTIFACTS / f"{self.number:02d}-{name}.png"), full_page=full_page)

    def go(self, path: str) -> None:
        self.page.goto(self.base_url + path)

    def sync_now_and_wait(self) -> None:
        from playwright.sync_api import expect

        self.go("/calendar/outlook/")
        self._wait_until_idle()
        previous = self.page.locator("#sync-progress").get_attribute("data-run") or "none"
        self.page.get_by_role("button", name="Sync now").click()
        progress = self.page.locator(f'#sync-progress[data-run]:not([data-run="{previous}"])')
        expect(progress).to_have_attribute("data-status", "completed", timeout=TIMEOUT_MS)
        expect(progress.locator("#sync-progress-percent")).to_have_text("100%")

    def _wait_until_idle(self) -> None:
        from playwright.sync_api import expect

        if self.page.locator("#sync-progress[data-status]").count():
            expect(self.page.locator("#sync-progress")).not_to_have_attribute("data-status", "in_progress", timeout=TIMEOUT_MS)


def _idle(integration) -> None:
    wait_for(lambda: not OutlookSyncHistory.objects.filter(integration=integration, sync_status="in_progress").exists(),
             timeout=30, message="sync runs to finish")


def _outlook_copy(outlook, integration, event: CalendarEvent) -> dict:
    row = OutlookEventMapping.objects.get(integration=integration, wedsync_event_id=str(event.pk), kind="event")
    return outlook.event(MAILBOX, row.outlook_event_id)


def test_supplier_connects_syncs_resolves_conflicts_and_disconnects(page, live_server, outlook, supplier):
    from playwright.sync_api import expect

    consultation = event_actions.create_event(
        supplier, event_type="client_meeting", title="Consultation with Priya & Sam", location="The Old Barn",
        starts_at=at(3, 14), ends_at=at(3, 15), time_zone="Europe/London",
    )
    event_actions.create_event(supplier, event_type="wedding_ceremony", title="Ceremony: Priya & Sam", starts_at=at(5, 15), ends_at=at(5, 16), time_zone="Europe/London")
    business = outlook.create_calendar(MAILBOX, "Business bookings")
    outlook.create_event(MAILBOX, {"subject": "Dentist", **graph_when(at(4, 9), at(4, 10)), "showAs": "busy"}, calendar_id=business["id"])
    steps = Steps(page, live_server.url)

    # 1. Sign in: not connected yet.
    steps.go("/accounts/login/?next=/calendar/outlook/")
    page.get_by_label("Username").fill(supplier.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Connect your Outlook calendar")).to_be_visible()
    steps.shot("not-connected")

    # 2. Connect through the emulator's consent page.
    page.get_by_role("button", name="Connect Microsoft Outlook").click()
    expect(page.get_by_role("heading", name="Permissions requested")).to_be_visible()
    page.get_by_label(re.compile(re.escape(MAILBOX))).check()
    steps.shot("consent")
    page.get_by_role("button", name="Accept").click()
    page.get_by_role("button", name="Start syncing").click()  # the guided step, choices as offered
    expect(page.get_by_role("heading", name="Outlook calendar connected")).to_be_visible()
    expect(page.locator("#messages")).to_contain_text(f"Outlook is connected as {MAILBOX}")
    expect(page.locator("#sync-progress-percent")).to_have_text("100%", timeout=TIMEOUT_MS)  # the first full sync, live
    steps.shot("connected-first-sync")
    integration = OutlookCalendarIntegration.objects.get(user=supplier)

    # 3. Pick a calendar and change preferences (saved over htmx, no reload).
    page.get_by_label("Outlook calendar to use").select_option(label="Business bookings")
    page.get_by_label("Start Outlook titles with").fill(PREFIX)
    page.get_by_label("1 day before").check()
    page.get_by_label("Deadlines & tasks").uncheck()
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator("#messages")).to_contain_text("Your Outlook settings are saved.")
    expect(page.get_by_label("1 day before")).to_be_checked()
    expect(page.locator("#calendar-name")).to_have_text("Business bookings")  # the summary follows without a reload
    expect(page.locator("#sync-progress-percent")).to_have_text("100%", timeout=TIMEOUT_MS)  # the resync the change needs
    steps.shot("settings-saved")
    integration.refresh_from_db()
    assert integration.calendar_id == business["id"] and 1440 in integration.sync_preferences["notificationMinutes"]
    _idle(integration)

    # 4. Sync now: the progress bar reaches 100 %.
    steps.sync_now_and_wait()
    steps.shot("sync-now-100")
    copy = _outlook_copy(outlook, integration, consultation)
    assert copy["subject"] == PREFIX + "Consultation with Priya & Sam"

    # 5. An edit made in Outlook shows up in WedSync after a sync. Made as a person would, on the emulator's
    #    Outlook-like page (the demo's "Outlook"), which changes the event through Graph like real Outlook.
    from django.conf import settings

    emulator_page = settings.GRAPH_BASE_URL.rsplit("/v1.0", 1)[0]
    page.goto(f"{emulator_page}/?user={MAILBOX}")  # the page keeps the mailbox in a cookie
    page.goto(f"{emulator_page}/outlook/events/{copy['id']}")
    expect(page.get_by_label("Title")).to_have_value(PREFIX + "Consultation with Priya & Sam")
    page.get_by_label("Title").fill(PREFIX + "Consultation: menu tasting")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name=re.compile("^Week of"))).to_be_visible()  # saved: back on Outlook's week
    steps.shot("outlook-page-edit")
    assert outlook.event(MAILBOX, copy["id"])["subject"] == PREFIX + "Consultation: menu tasting"
    steps.sync_now_and_wait()
    steps.go("/calendar/outlook/events/")
    expect(page.locator(f"#mapped-{consultation.pk}")).to_contain_text("Consultation: menu tasting")
    steps.shot("outlook-edit-arrived")

    # 6. A conflict (title changed on both sides), resolved with "Keep WedSync".
    def make_conflict(ours: str, theirs: str) -> None:
        outlook.update_event(MAILBOX, copy["id"], {"subject": PREFIX + theirs})
        steps.go(f"/calendar/events/{consultation.pk}/edit/")
        page.get_by_label("Title").fill(ours)
        page.get_by_role("button", name="Save event").click()
        expect(page.locator("#messages")).to_contain_text("is updated in your WedSync calendar")
        _idle(integration)
        steps.sync_now_and_wait()
        steps.go("/calendar/outlook/conflicts/")
        card = page.locator(f"#conflict-{consultation.pk}")
        expect(card).to_contain_text(ours)
        expect(card).to_contain_text(theirs)

    make_conflict("Consultation (WedSync)", "Consultation (Outlook)")
    expect(page.locator("#conflicts-badge")).to_have_text("1 needs your decision")  # the count on the navigation item
    steps.shot("conflict-shown")
    card = page.locator(f"#conflict-{consultation.pk}")
    card.get_by_role("button", name="Keep WedSync").click()
    expect(card).to_contain_text("Kept the WedSync version.")
    steps.go("/calendar/outlook/conflicts/")
    expect(page.locator("#conflicts-badge")).to_have_count(0)
    steps.shot("conflict-kept-wedsync")
    wait_for(lambda: _outlook_copy(outlook, integration, consultation)["subject"] == PREFIX + "Consultation (WedSync)", message="WedSync title in Outlook")

    # 7. ... and another one resolved with "Keep Outlook".
    _idle(integration)
    make_conflict("Consultation v2 (WedSync)", "Consultation v2 (Outlook)")
    card = page.locator(f"#conflict-{consultation.pk}")
    card.get_by_role("button", name="Keep Outlook").click()
    expect(card).to_contain_text("Kept the Outlook version.")
    steps.shot("conflict-kept-outlook")
    _idle(integration)
    consultation.refresh_from_db()
    assert consultation.title == "Consultation v2 (Outlook)"

    # 8. The double-booking warning on the event form: live while typing, and after saving.
    steps.go("/calendar/events/new/")
    page.get_by_label("Type").select_option(label="Vendor meeting")
    page.get_by_label("Title").fill("Florist tasting")
    page.get_by_label("Time zone").select_option("UTC")
    page.get_by_label("Starts").fill(at(4, 9, 30).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Ends").fill(at(4, 10, 30).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Ends").blur()
    expect(page.locator("#busy-check")).to_contain_text("You have “Dentist” in Outlook at that time.")
    steps.shot("double-booking-check")
    # Over the supplier's own ceremony: WedSync's own bookings count too, named.
    page.get_by_label("Starts").fill(at(5, 15, 30).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Ends").fill(at(5, 16, 30).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Ends").blur()
    expect(page.locator("#busy-check")).to_contain_text("You already have “Ceremony: Priya & Sam” in WedSync at that time.")
    steps.shot("double-booking-own-ceremony")
    page.get_by_label("Starts").fill(at(4, 9, 30).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Ends").fill(at(4, 10, 30).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Ends").blur()
    expect(page.locator("#busy-check")).not_to_contain_text("Ceremony")
    page.get_by_role("button", name="Save event").click()
    expect(page.get_by_role("alert")).to_contain_text("Possible double booking: You have “Dentist” in Outlook at that time.")
    steps.shot("double-booking-saved")
    wait_for(lambda: OutlookEventMapping.objects.filter(integration=integration, event__title="Florist tasting").exists(), message="push of the new event")

    # 9. The page at phone width has no sideways scrolling.
    page.set_viewport_size({"width": 375, "height": 800})
    steps.go("/calendar/outlook/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    steps.shot("phone-width", full_page=False)
    page.locator("#sync-history").scroll_into_view_if_needed()
    steps.shot("phone-width-history", full_page=False)
    page.set_viewport_size({"width": 1200, "height": 900})

    # 10. Disconnect: the confirmation says how many events leave Outlook, then the result.
    _idle(integration)
    ours = OutlookEventMapping.objects.filter(integration=integration).count()
    assert ours == 3  # consultation, ceremony, florist tasting
    steps.go("/calendar/outlook/")
    page.get_by_role("link", name="Disconnect Outlook…").click()
    expect(page.locator("#disconnect-consequence")).to_have_text(
        f"Removing takes the {ours} events WedSync added out of your Outlook calendar. Your own Outlook events stay.")
    expect(page.get_by_label("Remove WedSync's events from Outlook")).to_be_checked()
    steps.shot("disconnect-confirm")
    page.get_by_role("button", name="Yes, disconnect Outlook").click()
    # A worker disconnects; the page polls its progress until it shows the outcome.
    expect(page.locator("#disconnect-summary")).to_contain_text(f"We removed {ours} events WedSync had added to your Outlook calendar")
    page.get_by_role("link", name="Connect Outlook again").click()
    expect(page.get_by_role("button", name="Connect Microsoft Outlook")).to_be_visible()
    steps.shot("disconnected")
    assert [e["subject"] for e in outlook.events(MAILBOX)] == ["Dentist"]
    assert os.path.exists(ARTIFACTS / "01-not-connected.png")
