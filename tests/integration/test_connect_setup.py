"""The guided connect step (issue 17) through the API, a real Celery worker and the emulator.

After Microsoft sign-in the integration waits (``needsSetup``): nothing is
written to Outlook, no run starts, WedSync edits are not pushed. ``GET /setup``
offers the cached calendars and says what the first sync will do;
``PUT /settings`` with ``busyCalendarIds`` and ``confirmSetup`` confirms. A
calendar ticked as busy is read through calendarView delta like the synced one
(full, then incremental), its events are never copied into WedSync, and the
double-booking check warns against them, naming the calendar.
"""
from __future__ import annotations

import pytest

from outlook_sync.models import OutlookBusyTime, OutlookEventMapping, OutlookSyncHistory
from tests.conftest import MAILBOX, settle, wait_for
from tests.integration.outlook_helpers import BASE, at, connect, graph_when, run_sync, wait_for_idle

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


def _create(api_client, title: str, start, end, event_type: str = "client_meeting", **extra) -> dict:
    response = api_client.post("/api/events/", {"eventType": event_type, "title": title, "startsAt": start.isoformat(), "endsAt": end.isoformat(),
                                                "timeZone": "UTC", "attendees": [{"name": "Priya", "email": "priya@example.com"}], **extra})
    assert response.status_code == 201, response.content
    return response.json()


def test_nothing_reaches_outlook_before_confirm_and_a_ticked_busy_calendar_warns(api_client, graph, supplier, settings, live_server):
    settings.WEBHOOK_PUBLIC_BASE_URL = live_server.url  # so that a change subscription would be made if anything asked for one
    _create(api_client, "Consultation with Priya", at(3, 14), at(3, 15))
    _create(api_client, "Ceremony: Priya & Sam", at(5, 15), at(5, 16), event_type="wedding_ceremony", attendees=[])
    family = graph.create_calendar(MAILBOX, "Family")
    school = graph.create_event(MAILBOX, {"subject": "School play", **graph_when(at(6, 10), at(6, 11)), "showAs": "busy"}, calendar_id=family["id"])

    body = connect(api_client, graph, confirm=False)

    assert body["integration"]["needsSetup"] is True
    assert {c["name"] for c in body["calendars"]} >= {"Calendar", "Family"}
    # Waiting for the supplier: no run, no push of a new event, nothing in Outlook.
    _create(api_client, "Venue visit", at(4, 9), at(4, 10), event_type="venue_visit")
    refused = api_client.post(f"{BASE}/sync", {"syncType": "full_sync"})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "setup_needed"
    settle(graph)
    assert [e["id"] for e in graph.events(MAILBOX)] == [school["id"]]
    assert not OutlookSyncHistory.objects.exists() and not OutlookEventMapping.objects.exists()
    assert graph.subscriptions(MAILBOX) == []  # not even a change subscription

    setup = api_client.get(f"{BASE}/setup")
    assert setup.status_code == 200, setup.content
    setup = setup.json()
    assert setup["needsSetup"] is True and setup["calendarId"] == body["integration"]["calendarId"] and setup["busyCalendarIds"] == []
    assert setup["preview"]["eventsToAdd"] == 3 and setup["preview"]["invitationsSent"] == 0
    assert setup["preview"]["summary"].startswith("3 events will be added to “Calendar”; no one will be emailed.")

    unknown = api_client.put(f"{BASE}/settings", {"busyCalendarIds": ["not-a-calendar"], "confirmSetup": True})
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "unknown_calendar"
    assert api_client.get(f"{BASE}/setup").json()["needsSetup"] is True

    confirmed = api_client.put(f"{BASE}/settings", {"busyCalendarIds": [family["id"]], "confirmSetup": True})
    assert confirmed.status_code == 200, confirmed.content
    assert confirmed.json()["integration"]["needsSetup"] is False
    history = wait_for_idle(api_client)
    first = next(run for run in history if run["syncType"] == "full_sync")
    assert first["syncStatus"] == "completed" and first["eventsCreated"] == 3 and first["reason"] == "connect"
    assert graph.invitations() == []
    ours = [e for e in graph.events(MAILBOX) if e["subject"].startswith("WedSync: ")]
    assert len(ours) == 3 and [e["id"] for e in graph.events(MAILBOX, calendar_id=family["id"])] == [school["id"]]
    assert api_client.get(f"{BASE}/setup").json()["busyCalendarIds"] == [family["id"]]
    wait_for(lambda: graph.subscriptions(MAILBOX), message="the change subscription, once confirmed")

    # The Family calendar's event is busy time (never a WedSync event) and the check names where it is.
    assert OutlookBusyTime.objects.filter(subject="School play", calendar_id=family["id"]).count() == 1
    clash = _create(api_client, "Menu tasting", at(6, 10, 30), at(6, 11, 30), attendees=[])
    assert clash["warnings"] == ["You have “School play” in Outlook (your “Family” calendar) at that time."]

    # Later changes in the ticked calendar arrive through its delta link on the next incremental run.
    graph.update_event(MAILBOX, school["id"], graph_when(at(8, 10), at(8, 11)))
    evening = graph.create_event(MAILBOX, {"subject": "Parents' evening", **graph_when(at(9, 18), at(9, 19)), "showAs": "busy"}, calendar_id=family["id"])
    run_sync(api_client)
    moved = OutlookBusyTime.objects.get(outlook_event_id=school["id"])
    assert moved.starts_at == at(8, 10) and OutlookBusyTime.objects.filter(outlook_event_id=evening["id"], calendar_id=family["id"]).exists()
    graph.delete_event(MAILBOX, evening["id"])
    run_sync(api_client)
    assert not OutlookBusyTime.objects.filter(outlook_event_id=evening["id"]).exists()

    # Unticking forgets its busy time at once; no warning any more.
    assert api_client.put(f"{BASE}/settings", {"busyCalendarIds": []}).status_code == 200
    assert not OutlookBusyTime.objects.filter(calendar_id=family["id"]).exists()
    wait_for_idle(api_client)


def test_a_reauthorisation_of_the_same_account_does_not_ask_again(api_client, graph, supplier):
    first = connect(api_client, graph)["integration"]
    wait_for_idle(api_client)

    again = connect(api_client, graph, confirm=False)["integration"]

    assert again["id"] == first["id"] and again["needsSetup"] is False
    wait_for_idle(api_client)


def test_a_new_wedsync_calendar_is_made_only_when_the_supplier_confirms(api_client, graph, supplier):
    _create(api_client, "Consultation with Priya", at(3, 14), at(3, 15))
    connect(api_client, graph, confirm=False)

    chosen = api_client.put(f"{BASE}/settings", {"syncPreferences": {"createSeparateCalendar": True}})

    assert chosen.status_code == 200 and chosen.json()["integration"]["needsSetup"] is True
    assert "WedSync" not in {c["name"] for c in graph.calendars(MAILBOX)}  # choosing writes nothing
    preview = api_client.get(f"{BASE}/setup").json()["preview"]
    assert preview["calendarName"] == "WedSync" and preview["summary"].startswith("1 event will be added to “WedSync”")
    confirmed = api_client.put(f"{BASE}/settings", {"confirmSetup": True})
    assert confirmed.status_code == 200 and confirmed.json()["integration"]["calendarName"] == "WedSync"
    wait_for_idle(api_client)
    made = next(c for c in graph.calendars(MAILBOX) if c["name"] == "WedSync")
    assert [e["subject"] for e in graph.events(MAILBOX, calendar_id=made["id"])] == ["WedSync: Consultation with Priya"]
    assert graph.invitations() == []


def test_a_busy_calendar_outlook_refuses_to_read_never_stops_the_sync(api_client, graph, supplier):
    """A ticked calendar Outlook will not let us read (a colleague's shared calendar: 403) costs only its own busy
    time: WedSync's events still reach Outlook, and the supplier is told which calendar could not be read."""
    event = _create(api_client, "Consultation with Priya", at(3, 14), at(3, 15))
    shared = graph.create_calendar(MAILBOX, "Dana's calendar (shared)")
    connect(api_client, graph, confirm=False)
    graph.inject_fault("GET", f".*/calendars/{shared['id']}/calendarView/delta.*", status=403, count=None, error_code="ErrorAccessDenied")

    confirmed = api_client.put(f"{BASE}/settings", {"busyCalendarIds": [shared["id"]], "confirmSetup": True})
    assert confirmed.status_code == 200, confirmed.content
    history = wait_for_idle(api_client)

    assert OutlookEventMapping.objects.filter(wedsync_event_id=str(event["id"])).exclude(outlook_event_id="").exists()  # pushed all the same
    first = next(run for run in history if run["reason"] == "connect")
    assert first["syncStatus"] == "completed", first
    job = api_client.get(f"{BASE}/sync/{first['id']}").json()
    messages = [e["errorMessage"] for e in job["errors"]]
    assert any("Dana's calendar (shared)" in m for m in messages), job["errors"]
    assert all("ErrorAccessDenied" not in str(e) for e in job["errors"])  # the supplier's words, never Microsoft's code
