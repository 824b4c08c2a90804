"""Issue 16 items 2, 4 and 7 on the supplier's pages, in Debian's Chromium (Playwright).

- item 2: the synced-events page's "In Outlook as" is what Outlook holds (during a conflict);
- item 4: the progress box shows the work counted up front, a queued run as waiting, and ends at n of n;
- item 7: after Microsoft revokes the sign-in, the settings page says "needs reconnecting" in the
  supplier's words, with no green "finished 100%" and no provider code.
"""
from __future__ import annotations

import re
from zoneinfo import ZoneInfo


from outlook_sync import actions
from outlook_sync.models import OutlookCalendarIntegration, OutlookEventMapping, OutlookSyncHistory
from tests.conftest import MAILBOX, wait_for
from tests.e2e.test_outlook_browser import PASSWORD, TIMEOUT_MS, Steps, _idle, chromium_executable, outlook, page  # noqa: F401
from tests.integration.outlook_helpers import at, graph_when
from wedsync.events import actions as event_actions
from tests.e2e.browser_setup import BROWSER_TEST_MARKS

pytestmark = BROWSER_TEST_MARKS

EXTRA_EVENTS = 30


def _connected(page, live_server, outlook, supplier):
    """Two WedSync events; the supplier signs in and connects Outlook in the browser; the first sync is done."""
    from playwright.sync_api import expect

    consultation = event_actions.create_event(
        supplier, event_type="client_meeting", title="Consultation with Priya & Sam", location="The Old Barn",
        starts_at=at(3, 14), ends_at=at(3, 15), time_zone="Europe/London",
    )
    visit = event_actions.create_event(supplier, event_type="venue_visit", title="Venue visit", starts_at=at(4, 10), ends_at=at(4, 11), time_zone="Europe/London")
    steps = Steps(page, live_server.url)
    steps.go("/accounts/login/?next=/calendar/outlook/")
    page.get_by_label("Username").fill(supplier.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Connect Microsoft Outlook").click()
    page.get_by_label(re.compile(re.escape(MAILBOX))).check()
    page.get_by_role("button", name="Accept").click()
    page.get_by_role("button", name="Start syncing").click()  # the guided step, choices as offered
    expect(page.get_by_role("heading", name="Outlook calendar connected")).to_be_visible()
    integration = OutlookCalendarIntegration.objects.get(user=supplier)
    _idle(integration)
    return steps, integration, consultation, visit


def test_item_2_in_outlook_as_is_outlooks_own_title_and_time_during_a_conflict(page, live_server, outlook, supplier):
    from playwright.sync_api import expect

    steps, integration, consultation, visit = _connected(page, live_server, outlook, supplier)
    row = OutlookEventMapping.objects.get(integration=integration, wedsync_event_id=str(consultation.pk))
    outlook.update_event(MAILBOX, row.outlook_event_id, {"subject": "WedSync: Consultation (Outlook's title)", **graph_when(at(3, 17), at(3, 18))})
    event_actions.update_event(consultation, title="Consultation (WedSync's title)")
    # The venue visit is deleted in Outlook and edited in WedSync: Outlook no longer holds it, so no title shows as Outlook's.
    visit_row = OutlookEventMapping.objects.get(integration=integration, wedsync_event_id=str(visit.pk))
    outlook.delete_event(MAILBOX, visit_row.outlook_event_id)
    event_actions.update_event(visit, title="Venue visit, moved indoors")
    _idle(integration)
    steps.sync_now_and_wait()
    steps.go("/calendar/outlook/events/")
    line = page.locator("tr", has_text="Consultation (WedSync's title)")
    expect(line.locator('[data-label="In Outlook as"]')).to_contain_text("Consultation (Outlook's title)")
    expect(line.locator('[data-label="In Outlook as"]')).to_contain_text(at(3, 17).astimezone(ZoneInfo("Europe/London")).strftime("%H:%M"))
    expect(line.locator('[data-label="In Outlook as"]')).not_to_contain_text("WedSync's title")
    gone = page.locator("tr", has_text="Venue visit, moved indoors").locator('[data-label="In Outlook as"]')
    expect(gone).to_contain_text("(deleted in Outlook)")
    expect(gone).not_to_contain_text("Venue visit")
    steps.shot("contract-events-outlook-side")


def test_item_4_progress_is_counted_up_front_and_a_waiting_run_shows_as_waiting(page, live_server, outlook, supplier):
    from playwright.sync_api import expect

    steps, integration, consultation, visit = _connected(page, live_server, outlook, supplier)
    actions.update_settings(integration, {"syncEnabled": False})
    for n in range(EXTRA_EVENTS):
        event_actions.create_event(supplier, event_type="client_meeting", title=f"Tasting {n}", starts_at=at(6 + n % 10, 9 + n % 8),
                                   ends_at=at(6 + n % 10, 10 + n % 8), time_zone="Europe/London")
    # The supplier's own Outlook appointment is not WedSync work: the full read lists it, the count doesn't include it.
    outlook.create_event(MAILBOX, {"subject": "Dentist", **graph_when(at(3, 8), at(3, 9)), "showAs": "busy"})
    outlook.set_config(service_time_ms=150)
    outlook.inject_fault("POST", r"\$batch", latency_ms=12_000, count=1)  # Outlook holds the first creates: the run is still going below
    steps.go("/calendar/outlook/")
    page.get_by_label("Keep my calendars in step").check()
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator("#messages")).to_contain_text("Your Outlook settings are saved.")
    steps.go("/calendar/outlook/")
    box = page.locator('#sync-progress[data-status="in_progress"]')
    expect(box).to_be_visible(timeout=TIMEOUT_MS)
    total = 2 + EXTRA_EVENTS
    expect(page.locator("#sync-progress-label")).to_contain_text(f"of {total} events checked")
    steps.shot("contract-progress-counted-up-front")
    page.get_by_role("button", name="Sync now").click()
    waiting = page.locator('#sync-progress[data-status="queued"]')
    expect(waiting).to_be_visible(timeout=TIMEOUT_MS)
    expect(waiting).to_contain_text("Waiting for the sync that's already running to finish")
    expect(waiting.locator("#sync-progress-label")).to_contain_text(re.compile(r"\b\d+ events? to check"))
    expect(waiting.locator("#sync-progress-label")).not_to_contain_text("0 of 0")
    steps.shot("contract-queued")
    expect(page.locator("#sync-progress")).to_have_attribute("data-status", "completed", timeout=120_000)
    outlook.set_config(service_time_ms=0)
    _idle(integration)


def test_item_7_a_revoked_sign_in_shows_needs_reconnecting_in_the_suppliers_words(page, live_server, outlook, supplier):
    from playwright.sync_api import expect

    steps, integration, consultation, visit = _connected(page, live_server, outlook, supplier)
    # --- item 7: Microsoft revokes the sign-in; the next sync finds out.
    outlook.revoke_refresh_tokens(MAILBOX)
    outlook.expire_access_tokens(MAILBOX)
    event_actions.update_event(consultation, location="The New Barn")  # a push: it needs a token, and learns it was revoked
    wait_for(lambda: OutlookCalendarIntegration.objects.get(pk=integration.pk).needs_reauthorization, timeout=60, message="needs reconnect")
    _idle(integration)
    steps.go("/calendar/outlook/")
    expect(page.get_by_role("heading", name="Outlook needs reconnecting")).to_be_visible()
    expect(page.locator("#integration-health")).to_have_attribute("data-state", "needs_reconnect")
    expect(page.locator("#reconnect-banner")).to_contain_text("sign in again")
    body = page.locator("body")
    expect(body).not_to_contain_text("AADSTS")
    expect(body).not_to_contain_text("Sync finished")
    expect(body).not_to_contain_text("Outlook calendar connected")
    expect(page.get_by_role("button", name="Sync now")).to_be_disabled()
    steps.shot("contract-needs-reconnect")
    steps.go("/calendar/outlook/events/")
    expect(page.locator("#integration-health")).to_have_attribute("data-state", "needs_reconnect")
    expect(page.locator("#integration-health")).to_contain_text("Outlook needs reconnecting")
    expect(page.locator("#integration-health").get_by_role("link", name="Reconnect Outlook")).to_be_visible()
    # The edit made after the revocation never reached Outlook: that event waits, it is not "In sync".
    expect(page.locator("tr", has_text="Consultation with Priya & Sam").locator('[data-label="Status"]')).to_contain_text("Waiting to sync")
    expect(page.locator("body")).not_to_contain_text("AADSTS")
    steps.shot("contract-events-needs-reconnect")


def test_item_7_a_sync_microsoft_refused_says_when_it_will_be_tried_again(page, live_server, outlook, supplier):
    from playwright.sync_api import expect

    steps, integration, consultation, visit = _connected(page, live_server, outlook, supplier)
    outlook.expire_access_tokens(MAILBOX)
    outlook.inject_fault("POST", r"oauth2/v2\.0/token", status=503, count=None, retry_after=0)  # Microsoft's sign-in service is down
    steps.go("/calendar/outlook/")
    page.get_by_role("button", name="Sync now").click()
    expect(page.locator("#sync-progress")).to_have_attribute("data-status", "failed", timeout=120_000)
    steps.go("/calendar/outlook/")
    health = page.locator("#integration-health")
    expect(health).to_have_attribute("data-state", "retrying")
    expect(health).to_contain_text(re.compile(r"we'll try again at \d\d:\d\d"))
    expect(page.locator('#sync-progress[data-status="queued"]')).to_contain_text(re.compile(r"Waiting to try again at \d\d:\d\d"))
    expect(page.locator("body")).not_to_contain_text("Sync finished")
    expect(page.locator("body")).not_to_contain_text("503")
    expect(page.locator("#sync-history tbody tr").first.locator('[data-label="Result"]')).to_have_text("Waiting")  # queued, not "Running"
    steps.shot("contract-retrying")
    steps.go("/calendar/outlook/events/")
    expect(page.locator("#integration-health")).to_have_attribute("data-state", "retrying")
    outlook.clear_faults()
    wait_for(lambda: not OutlookSyncHistory.objects.filter(integration=integration, sync_status="in_progress").exists(),
             timeout=120, message="the retry runs")
