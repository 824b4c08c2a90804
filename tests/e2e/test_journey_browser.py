"""The supplier's journey (issue 17) in Debian's Chromium: invitations, accessibility, support admin.

Same set-up as ``test_outlook_browser.py`` (pytest-django's live server, the
Graph emulator over HTTP, a real Celery worker). The emulator records every
invitation mail Outlook would send (``GET /_emulator/invitations``), so the
test asserts who was mailed. Every supplier page visited is checked with
axe-core: 0 serious or critical violations. Screenshots go to
``test-artifacts/e2e/journey-*.png``.
"""
from __future__ import annotations

import datetime as dt
import re

from django.utils import timezone

from outlook_sync.models import OutlookCalendarIntegration, OutlookEventMapping, OutlookSyncHistory
from tests.conftest import MAILBOX, wait_for
from tests.e2e.accessibility import assert_accessible
from tests.e2e.test_outlook_browser import ARTIFACTS, PASSWORD, TIMEOUT_MS, chromium_executable, outlook, page  # noqa: F401 (fixtures)
from wedsync.events import actions as event_actions
from tests.e2e.browser_setup import BROWSER_TEST_MARKS, connect_in_browser

pytestmark = BROWSER_TEST_MARKS


def _at(days: int, hour: int) -> dt.datetime:
    day = (timezone.now() + dt.timedelta(days=days)).date()
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.timezone.utc)


def _shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"journey-{name}.png"), full_page=True)


def _idle(integration) -> None:
    wait_for(lambda: not OutlookSyncHistory.objects.filter(integration=integration, sync_status__in=["queued", "in_progress"]).exists(),
             timeout=30, message="sync runs to finish")


def _sign_in(page, base: str, username: str, password: str, next_path: str) -> None:
    page.goto(f"{base}/accounts/login/?next={next_path}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_connecting_mails_no_one_and_the_event_form_says_who_a_new_meeting_will_invite(page, live_server, outlook, supplier):
    from playwright.sync_api import expect

    for n, (title, email) in enumerate([("Consultation with Priya", "priya@example.com"), ("Venue visit with Sam", "sam@example.com")]):
        event_actions.create_event(supplier, event_type="client_meeting" if n == 0 else "venue_visit", title=title,
                                   starts_at=_at(3 + n, 14), ends_at=_at(3 + n, 15), time_zone="Europe/London",
                                   attendees=[{"name": title.split()[-1], "email": email}])
    base = live_server.url
    _sign_in(page, base, supplier.username, PASSWORD, "/calendar/outlook/")
    expect(page.get_by_role("heading", name="Connect your Outlook calendar")).to_be_visible()
    assert_accessible(page, "not connected")
    connect_in_browser(page, MAILBOX)  # consent, then the guided step with its choices as offered
    expect(page.locator("#sync-progress-percent")).to_have_text("100%", timeout=TIMEOUT_MS)
    integration = OutlookCalendarIntegration.objects.get(user=supplier)
    _idle(integration)
    assert outlook.invitations() == []  # the first sync copied both meetings and mailed no one
    assert_accessible(page, "settings after connect")
    _shot(page, "01-connected-no-invitations")

    # A single new client meeting: the form says who will be invited before saving, and exactly that one mail goes out.
    page.goto(f"{base}/calendar/events/new/")
    page.get_by_label("Type").select_option(label="Client meeting")
    page.get_by_label("Title").fill("Menu meeting with Alex")
    page.get_by_label("Time zone").select_option("UTC")
    page.get_by_label("Starts").fill(_at(6, 11).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Ends").fill(_at(6, 12).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Guests").fill("Alex Morgan <alex@example.com>")
    page.get_by_label("Guests").blur()
    expect(page.locator("#invite-notice")).to_contain_text("Alex Morgan will get an Outlook invitation")
    assert_accessible(page, "new event form")
    _shot(page, "02-form-says-invitation")
    page.get_by_label("Type").select_option(label="Wedding ceremony")
    expect(page.locator("#invite-notice")).to_contain_text("No one will be emailed")
    page.get_by_label("Type").select_option(label="Client meeting")
    expect(page.locator("#invite-notice")).to_contain_text("Alex Morgan will get an Outlook invitation")
    page.get_by_role("button", name="Save event").click()
    expect(page.locator("#messages")).to_contain_text("is added to your WedSync calendar")
    wait_for(lambda: OutlookEventMapping.objects.filter(integration=integration, event__title="Menu meeting with Alex").exists(), message="push of the new event")
    _idle(integration)
    assert [(m["to"], m["subject"]) for m in outlook.invitations()] == [("alex@example.com", "WedSync: Menu meeting with Alex")]

    # Editing a meeting that went to Outlook without its guests: the form says no one is emailed.
    priya = OutlookEventMapping.objects.get(integration=integration, event__title="Consultation with Priya")
    page.goto(f"{base}/calendar/events/{priya.event_id}/edit/")
    expect(page.locator("#invite-notice")).to_contain_text("No one will be emailed: this event went to Outlook without its guests")
    _shot(page, "03-edit-no-invitation")

    # A full resync mails no one either; every supplier page passes the accessibility check.
    page.goto(f"{base}/calendar/outlook/")
    page.get_by_role("button", name="Sync now").click()
    _idle(integration)
    for path in ("/calendar/outlook/", "/calendar/outlook/events/", "/calendar/outlook/conflicts/", "/calendar/events/", "/calendar/outlook/disconnect/"):
        page.goto(base + path)
        assert_accessible(page, path)
    assert len(outlook.invitations()) == 1


def test_settings_confirmation_is_in_view_and_true_and_support_admin_fits_1280px(page, live_server, outlook, supplier, django_user_model):
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from playwright.sync_api import expect

    event_actions.create_event(supplier, event_type="client_meeting", title="Consultation with Priya", starts_at=_at(3, 14),
                               ends_at=_at(3, 15), time_zone="Europe/London", attendees=[{"name": "Priya", "email": "priya@example.com"}])
    base = live_server.url
    _sign_in(page, base, supplier.username, PASSWORD, "/calendar/outlook/")
    page.get_by_role("button", name="Connect Microsoft Outlook").click()
    page.get_by_label(re.compile(re.escape(MAILBOX))).check()
    page.get_by_role("button", name="Accept").click()
    page.get_by_role("button", name="Start syncing").click()  # the guided step, choices as offered
    expect(page.locator("#sync-progress-percent")).to_have_text("100%", timeout=TIMEOUT_MS)
    integration = OutlookCalendarIntegration.objects.get(user=supplier)
    _idle(integration)

    # Reminders only: saved, nothing rewritten now, and no claim that Outlook is being updated.
    page.get_by_label("1 day before").check()
    page.get_by_role("button", name="Save settings").click()
    saved = page.locator("#settings-saved")
    expect(saved).to_contain_text("Your Outlook settings are saved. The new reminders are used as WedSync next writes each event")
    expect(saved).not_to_contain_text("bringing the events in Outlook")
    expect(saved).to_be_in_viewport()  # next to the button that was pressed, not off-screen at the top
    assert not OutlookSyncHistory.objects.filter(integration=integration, triggered_by="settings_change").exists()
    _shot(page, "04-settings-reminders-saved")

    # The prefix: a resync really starts, and the confirmation says so.
    page.get_by_label("Start Outlook titles with").fill("Planner: ")
    page.get_by_role("button", name="Save settings").click()
    expect(saved).to_contain_text("WedSync is now bringing the events in Outlook in line with them")
    expect(saved).to_be_in_viewport()
    assert OutlookSyncHistory.objects.filter(integration=integration, triggered_by="settings_change").exists()
    _idle(integration)
    assert [e["subject"] for e in outlook.events(MAILBOX)] == ["Planner: Consultation with Priya"]
    assert_accessible(page, "settings saved")
    _shot(page, "05-settings-prefix-saved")

    # Support admin: headed "WedSync support", rows in words, no sideways scrolling at 1280 px.
    call_command("ensure_support_group")
    support = django_user_model.objects.create_user(username="support", password="support pass 9", is_staff=True)
    support.groups.set([Group.objects.get(name="Support")])
    page.context.clear_cookies()
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{base}/admin/login/?next=/admin/")
    page.get_by_label("Username").fill("support")
    page.get_by_label("Password").fill("support pass 9")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#site-name")).to_have_text("WedSync support")
    for path, name in [("/admin/", "index"), ("/admin/outlook_sync/outlookcalendarintegration/", "integrations"),
                       (f"/admin/outlook_sync/outlookcalendarintegration/{integration.pk}/change/", "integration"),
                       ("/admin/outlook_sync/outlooksynchistory/", "runs"), ("/admin/outlook_sync/outlookeventmapping/", "mappings")]:
        page.goto(base + path)
        expect(page.locator("#site-name")).to_have_text("WedSync support")
        width = page.evaluate("document.documentElement.scrollWidth")
        _shot(page, f"06-admin-{name}")
        assert width <= 1280, f"{path} is {width} px wide"
        text = page.locator("#content").inner_text()
        assert "object (" not in text, f"{path} shows a raw model name"
    page.goto(f"{base}/admin/outlook_sync/outlookcalendarintegration/{integration.pk}/change/")
    expect(page.locator("#content")).to_contain_text("Title prefix: “Planner: ”")  # settings as a readable list, not JSON
    expect(page.locator("#content")).to_contain_text("Reminders: 15 min before, 60 min before, 1440 min before")
