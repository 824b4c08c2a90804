"""Outlook invitations (issue 17, item 1): who gets mailed, through the API, a real worker and the emulator.

Graph mails an invitation to every attendee added to an event; the emulator
records each one (``GET /_emulator/invitations``). Connecting, a full resync, a
reconnect and a bulk change must mail no one; a single new event of an invited
type mails its attendees. Reconnecting restores the settings the supplier had.
"""
from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone

from tests.conftest import MAILBOX
from tests.integration.outlook_helpers import BASE, connect, disconnect, run_sync, wait_for_idle
from wedsync.events import actions as event_actions

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


def _at(days: int, hour: int) -> dt.datetime:
    day = (timezone.now() + dt.timedelta(days=days)).date()
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.timezone.utc)


def _meeting(api_client, title: str, email: str, *, days: int = 3, event_type: str = "client_meeting") -> dict:
    response = api_client.post("/api/events/", {
        "eventType": event_type, "title": title, "startsAt": _at(days, 14).isoformat(), "endsAt": _at(days, 15).isoformat(),
        "timeZone": "Europe/London", "attendees": [{"name": title.split()[-1], "email": email}],
    })
    assert response.status_code == 201, response.content
    return response.json()


def _copy(graph, title: str) -> dict:
    return next(e for e in graph.events(MAILBOX) if e["subject"].endswith(title))


def test_connect_resync_bulk_and_reconnect_mail_no_one_a_single_new_meeting_mails_its_client(api_client, graph, supplier):
    _meeting(api_client, "Consultation with Priya", "priya@example.com")
    _meeting(api_client, "Venue visit with Sam", "sam@example.com", days=4, event_type="venue_visit")
    connect(api_client, graph)
    wait_for_idle(api_client)
    assert graph.invitations() == []
    assert _copy(graph, "Consultation with Priya")["attendees"] == []  # the copy carries no one to mail

    run_sync(api_client, sync_type="full_sync")
    assert graph.invitations() == []

    with transaction.atomic():  # a bulk change: several new events in one go, one push
        for n in range(3):
            event_actions.create_event(supplier, event_type="client_meeting", title=f"Tasting {n}", starts_at=_at(5 + n, 10),
                                       ends_at=_at(5 + n, 11), time_zone="Europe/London",
                                       attendees=[{"name": "", "email": f"guest{n}@example.com"}])
    wait_for_idle(api_client)
    assert {e["subject"] for e in graph.events(MAILBOX)} >= {"WedSync: Tasting 0", "WedSync: Tasting 1", "WedSync: Tasting 2"}
    assert graph.invitations() == []

    _meeting(api_client, "Ceremony rehearsal Jo", "jo@example.com", days=9, event_type="wedding_ceremony")
    wait_for_idle(api_client)
    assert graph.invitations() == []  # wedding-day events never mail

    _meeting(api_client, "Menu meeting with Alex", "alex@example.com", days=10)
    wait_for_idle(api_client)
    mailed = graph.invitations()
    assert [(m["to"], m["subject"]) for m in mailed] == [("alex@example.com", "WedSync: Menu meeting with Alex")]

    # Settings the supplier chose survive a disconnect and reconnect; the reconnect's first sync mails no one.
    changed = api_client.put(f"{BASE}/settings", {"syncPreferences": {"eventPrefix": "Planner: ", "inviteAttendeesFor": ["venue_visit"]}})
    assert changed.status_code == 200, changed.content
    wait_for_idle(api_client)
    disconnect(api_client)
    prefs = connect(api_client, graph)["integration"]["syncPreferences"]
    wait_for_idle(api_client)
    assert prefs["eventPrefix"] == "Planner: " and prefs["inviteAttendeesFor"] == ["venue_visit"]
    assert _copy(graph, "Consultation with Priya")["subject"] == "Planner: Consultation with Priya"
    assert graph.invitations() == mailed  # still only Alex's one invitation
