"""The guided connect step's and the history page's bad input, paging and folding, through the pages (Django's client).

The browser journeys are in ``tests/e2e/test_setup_history_browser.py``. Here the
integrations, runs and journal rows are set up directly: their making is not
under test, what the pages do with them is.
"""
from __future__ import annotations

import datetime as dt
import html

import pytest
from django.test import Client
from django.utils import timezone

from outlook_sync.models import OutlookCalendarIntegration, OutlookSyncChange, OutlookSyncHistory
from wedsync.events import actions as event_actions

pytestmark = pytest.mark.django_db

CALENDARS = [
    {"id": "cal-main", "name": "Calendar", "color": "auto", "isDefaultCalendar": True, "canEdit": True, "owner": {"name": "A", "address": "a@example.com"}},
    {"id": "cal-family", "name": "Family", "color": "auto", "isDefaultCalendar": False, "canEdit": True, "owner": {"name": "A", "address": "a@example.com"}},
    {"id": "cal-holidays", "name": "Holidays", "color": "auto", "isDefaultCalendar": False, "canEdit": False, "owner": {"name": "A", "address": "a@example.com"}},
]


def _integration(user, *, needs_setup: bool = False, microsoft_user_id: str = "me") -> OutlookCalendarIntegration:
    integration = OutlookCalendarIntegration(user=user, tenant_id="t", microsoft_user_id=microsoft_user_id, token_expires_at=timezone.now(),
                                             calendar_id="cal-main", calendar_name="Calendar", needs_setup=needs_setup,
                                             calendar_list=CALENDARS, calendar_list_at=timezone.now(), microsoft_account_email=f"{microsoft_user_id}@example.com")
    integration.set_tokens(access_token="a", refresh_token="r", expires_at=timezone.now() + dt.timedelta(hours=1))
    integration.save()
    return integration


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _run(integration, minutes_ago: int, **extra) -> OutlookSyncHistory:
    values = {"sync_type": "incremental", "sync_direction": "bidirectional", "sync_status": "completed", **extra}
    return OutlookSyncHistory.objects.create(integration=integration, started_at=timezone.now() - dt.timedelta(minutes=minutes_ago), **values)


def test_setup_refuses_what_is_not_offered_and_starts_nothing(supplier):
    integration = _integration(supplier, needs_setup=True)
    event_actions.create_event(supplier, event_type="client_meeting", title="Consultation", starts_at=timezone.now() + dt.timedelta(days=2),
                               ends_at=timezone.now() + dt.timedelta(days=2, hours=1), time_zone="UTC")
    client = _client(supplier)
    assert client.get("/calendar/outlook/")["Location"] == "/calendar/outlook/setup/"

    page = client.get("/calendar/outlook/setup/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "1 event will be added to “Calendar”; no one will be emailed." in text
    assert 'value="cal-holidays"' in text.split("Check these calendars")[1] and 'value="cal-holidays"' not in text.split("Check these calendars")[0]

    for bad in ({"calendar": "cal-holidays"}, {"calendar": "nope"}, {"calendar": "cal-main", "busy": ["nope"]}, {}):
        refused = client.post("/calendar/outlook/setup/", bad)
        assert refused.status_code == 400, bad
    integration.refresh_from_db()
    assert integration.needs_setup and not OutlookSyncHistory.objects.exists()

    preview = client.get("/calendar/outlook/setup/preview/", {"calendar": "__separate__", "busy": ["cal-family"]})
    assert "1 event will be added to “WedSync”" in preview.content.decode() and "against “WedSync” and “Family”" in preview.content.decode()
    assert client.get("/calendar/outlook/setup/preview/", {"calendar": "nope"}).status_code == 200  # the stored choices are previewed instead


def test_setup_and_history_are_the_suppliers_own(supplier, other_supplier):
    _integration(other_supplier, needs_setup=True, microsoft_user_id="other")
    client = _client(supplier)
    assert client.get("/calendar/outlook/setup/").status_code == 404
    assert client.get("/calendar/outlook/history/").status_code == 404
    mine = _integration(supplier)
    assert client.get("/calendar/outlook/setup/")["Location"] == "/calendar/outlook/"  # confirmed already: nothing to set up
    assert mine.needs_setup is False


def test_history_pages_folds_quiet_runs_and_filters_by_event(supplier, other_supplier):
    integration = _integration(supplier)
    theirs = _integration(other_supplier, microsoft_user_id="other")
    for n in range(12):
        run = _run(integration, 100 - n)
        OutlookSyncChange.objects.create(run=run, integration=integration, wedsync_event_id=f"e{n % 2}", event_title=f"Event {n % 2}",
                                         side="wedsync", kind="updated", fields={"location": {"old": f"Room {n}", "new": f"Room {n + 1}"}})
    for n in range(3):
        _run(integration, 10 - n)  # echoes: changed nothing
    _run(integration, 1, sync_status="failed", sync_errors=[{"eventId": "", "eventType": "", "errorCode": "x", "errorMessage": "Outlook was unreachable.", "retryable": True}])
    # The engine's own words already say it retries: said once, not twice.
    _run(integration, 2, sync_status="failed", sync_errors=[{"eventId": "", "eventType": "", "errorCode": "throttled", "retryable": True,
                                                             "errorMessage": "Outlook is busy and asked us to slow down. We'll retry shortly."}])
    their_run = _run(theirs, 5)
    OutlookSyncChange.objects.create(run=their_run, integration=theirs, wedsync_event_id="secret", event_title="Their secret meeting",
                                     side="wedsync", kind="updated", fields={"title": {"old": "a", "new": "b"}})
    client = _client(supplier)

    first = html.unescape(client.get("/calendar/outlook/history/").content.decode())
    assert first.count('class="history-run ') == 10 and "Page 1 of 2" in first and "14 syncs" in first
    assert "3 syncs that changed nothing are folded away" in first
    assert "asked us to slow down. We'll retry shortly." in first and "We'll retry shortly. We'll try again" not in first
    assert "Outlook was unreachable. We'll try again automatically." in first  # a failed run that changed nothing is never folded
    assert "Their secret meeting" not in first and "Room 11" in first and "Room 12" in first
    second = client.get("/calendar/outlook/history/", {"page": 2}).content.decode()
    assert second.count('class="history-run ') == 4 and "Page 2 of 2" in second
    everything = client.get("/calendar/outlook/history/", {"quiet": "1"}).content.decode()
    assert "17 syncs" in everything and "folded away" not in everything

    one_event = client.get("/calendar/outlook/history/", {"event": "e1"}).content.decode()
    assert "Syncs that changed “Event 1”" in one_event and one_event.count('class="history-run ') == 6 and "Room 0" not in one_event
    # Another supplier's event id is not a filter here: the whole history is shown, none of theirs.
    not_mine = client.get("/calendar/outlook/history/", {"event": "secret", "page": "x"}).content.decode()
    assert "Their secret meeting" not in not_mine and not_mine.count('class="history-run ') == 10
