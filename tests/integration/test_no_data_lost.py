"""Issue 14: no supplier data lost, one test per class, through public surfaces.

WedSync is changed through ``/api/events/`` (its pushes run in the real
worker), Outlook through the emulator's control API as the supplier would in
Outlook. No webhook URL is configured here, so every Outlook change is a
"lost notification": it is seen only by the next sync run, which is exactly
the interleaving each class needs.
"""
from __future__ import annotations

import datetime as dt

import pytest

from tests.conftest import MAILBOX, wait_for
from tests.integration.outlook_helpers import BASE, at, connect, graph_when, run_sync, wait_for_idle

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

LONDON = "Europe/London"


def _create_event(api_client, **overrides) -> dict:
    body = {
        "eventType": "vendor_meeting", "title": "Tasting with Rosa's Kitchen", "location": "The Old Barn",
        "startsAt": at(3, 14).isoformat(), "endsAt": at(3, 15).isoformat(), "timeZone": LONDON, "attendees": [],
    } | overrides
    response = api_client.post("/api/events/", body)
    assert response.status_code == 201, response.content
    return response.json()


def _mapped(api_client, event_id: str) -> dict | None:
    return next((e for e in api_client.get(f"{BASE}/events", {"pageSize": 200}).json()["events"] if e["wedSyncEventId"] == event_id), None)


def _event(api_client, event_id: str) -> dict:
    return api_client.get(f"/api/events/{event_id}/").json()


def _outlook(graph, outlook_id: str) -> dict | None:
    return next((e for e in graph.events(MAILBOX) if e["id"] == outlook_id), None)


def _ours(graph) -> list[dict]:
    return [e for e in graph.events(MAILBOX) if any("WedSyncEventId" in p["id"] for p in e.get("singleValueExtendedProperties") or [])]


def _edit(api_client, event_id: str, **changes) -> dict:
    response = api_client.patch(f"/api/events/{event_id}/", changes)
    assert response.status_code == 200, response.content
    return response.json()


def _pushed(api_client) -> None:
    """Let the push the last WedSync change scheduled run to its end."""
    wait_for(lambda: api_client.get(f"{BASE}/sync").json()["syncStats"]["pendingEvents"] == 0, message="push of WedSync changes")
    wait_for_idle(api_client)


@pytest.fixture(autouse=True)
def _settle(api_client, graph):
    yield
    if api_client.get(f"{BASE}/sync").status_code == 200:
        wait_for_idle(api_client)


@pytest.fixture
def synced(api_client, graph):
    event = _create_event(api_client)
    connect(api_client, graph)
    wait_for_idle(api_client)
    mapped = _mapped(api_client, event["id"])
    assert mapped and mapped["syncStatus"] == "synced"
    return {"event": event, "outlook_id": mapped["outlookEventId"]}


# --------------------------------------------------------------------------- 1


@pytest.mark.parametrize("sync_type", ["incremental", "full_sync"])
def test_01_moving_an_event_past_the_window_in_outlook_deletes_nothing(api_client, graph, synced, sync_type):
    event, outlook_id = synced["event"], synced["outlook_id"]
    run_sync(api_client)  # the delta link now postdates the create
    graph.update_event(MAILBOX, outlook_id, graph_when(at(400, 14), at(400, 15)))

    job = run_sync(api_client, sync_type=sync_type)

    assert job["status"] == "completed"
    current = _event(api_client, event["id"])
    assert current["isDeleted"] is False
    assert dt.datetime.fromisoformat(current["startsAt"]) == at(400, 14)  # the move itself is an edit, and it is kept
    assert _outlook(graph, outlook_id) is not None
    assert _mapped(api_client, event["id"]) is not None


def test_01_moving_an_event_past_the_window_in_wedsync_deletes_nothing(api_client, graph, synced):
    event, outlook_id = synced["event"], synced["outlook_id"]
    run_sync(api_client)
    _edit(api_client, event["id"], startsAt=at(400, 14).isoformat(), endsAt=at(400, 15).isoformat())
    _pushed(api_client)
    wait_for(lambda: (_outlook(graph, outlook_id) or {}).get("start", {}).get("dateTime", "").startswith(at(400, 14).strftime("%Y-%m-%dT%H")), message="move pushed")

    run_sync(api_client)
    run_sync(api_client, sync_type="full_sync")

    assert _event(api_client, event["id"])["isDeleted"] is False
    assert _outlook(graph, outlook_id) is not None


# --------------------------------------------------------------------------- 2


def test_02_an_open_conflict_is_not_settled_by_a_later_wedsync_edit(api_client, graph, synced):
    event, outlook_id = synced["event"], synced["outlook_id"]
    graph.update_event(MAILBOX, outlook_id, {"location": {"displayName": "The Orangery"}})  # notification lost
    _edit(api_client, event["id"], location="The Walled Garden")  # the push meets 412: a location conflict
    wait_for(lambda: (_mapped(api_client, event["id"]) or {}).get("syncStatus") == "conflict", message="location conflict")
    wait_for_idle(api_client)

    _edit(api_client, event["id"], title="Tasting (menu B)")
    wait_for(lambda: (_outlook(graph, outlook_id) or {}).get("subject") == "WedSync: Tasting (menu B)", message="title pushed")
    wait_for_idle(api_client)
    run_sync(api_client)

    mapped = _mapped(api_client, event["id"])
    assert mapped["syncStatus"] == "conflict"
    assert [c["field"] for c in mapped["syncConflicts"]] == ["location"]
    assert _outlook(graph, outlook_id)["location"]["displayName"] == "The Orangery"  # Outlook's edit was not overwritten
    assert _event(api_client, event["id"])["location"] == "The Walled Garden"


# --------------------------------------------------------------------------- 3


@pytest.mark.parametrize("sync_type", ["incremental", "full_sync"])
def test_03_a_delete_vs_edit_conflict_survives_the_next_sync(api_client, graph, synced, sync_type):
    event, outlook_id = synced["event"], synced["outlook_id"]
    graph.delete_event(MAILBOX, outlook_id)  # notification lost
    _edit(api_client, event["id"], location="The Walled Garden")
    wait_for(lambda: (_mapped(api_client, event["id"]) or {}).get("syncStatus") == "conflict", message="delete-vs-edit conflict")
    wait_for_idle(api_client)

    run_sync(api_client, sync_type=sync_type)
    run_sync(api_client, sync_type="full_sync")

    current = _event(api_client, event["id"])
    assert current["isDeleted"] is False and current["location"] == "The Walled Garden"
    mapped = _mapped(api_client, event["id"])
    assert mapped["syncStatus"] == "conflict" and mapped["syncConflicts"][0]["field"] == "deleted"

    # The supplier keeps their edit: the event is made again in Outlook.
    response = api_client.post(f"{BASE}/events/{event['id']}/resolve", {"resolutions": {"deleted": {"useValue": "wedsync"}}})
    assert response.status_code == 200, response.content
    wait_for_idle(api_client)
    copies = [e for e in _ours(graph) if e["location"]["displayName"] == "The Walled Garden"]
    assert len(copies) == 1 and copies[0]["subject"] == "WedSync: Tasting with Rosa's Kitchen"


# --------------------------------------------------------------------------- 5


def test_05_a_wedsync_delete_is_not_pushed_over_a_newer_outlook_edit(api_client, graph, synced):
    event, outlook_id = synced["event"], synced["outlook_id"]
    graph.update_event(MAILBOX, outlook_id, {"location": {"displayName": "Moved to the Orangery"}})  # notification lost
    response = api_client.delete(f"/api/events/{event['id']}/")
    assert response.status_code in (200, 204), response.content
    wait_for(lambda: (_mapped(api_client, event["id"]) or {}).get("syncStatus") == "conflict", message="delete-vs-edit conflict")
    wait_for_idle(api_client)

    assert _outlook(graph, outlook_id)["location"]["displayName"] == "Moved to the Orangery"
    run_sync(api_client, sync_type="full_sync")
    assert _outlook(graph, outlook_id) is not None
    assert _mapped(api_client, event["id"])["syncConflicts"][0]["field"] == "deleted"


# --------------------------------------------------------------------------- 7, 8


def test_07_a_prefix_change_rewrites_subjects_and_later_outlook_edits_keep_the_title(api_client, graph, synced):
    event, outlook_id = synced["event"], synced["outlook_id"]
    response = api_client.put(f"{BASE}/settings", {"syncPreferences": {"eventPrefix": "[WS] "}})
    assert response.status_code == 200, response.content
    wait_for_idle(api_client)
    assert _outlook(graph, outlook_id)["subject"] == "[WS] Tasting with Rosa's Kitchen"
    invitations_before = len(graph.invitations())

    graph.update_event(MAILBOX, outlook_id, {"location": {"displayName": "The Orangery"}})
    run_sync(api_client)

    current = _event(api_client, event["id"])
    assert current["title"] == "Tasting with Rosa's Kitchen" and current["location"] == "The Orangery"
    assert _outlook(graph, outlook_id)["subject"] == "[WS] Tasting with Rosa's Kitchen"
    assert len(graph.invitations()) == invitations_before  # nobody was mailed


def test_07_a_reminder_change_is_applied_to_existing_events(api_client, graph, synced):
    outlook_id = synced["outlook_id"]
    assert _outlook(graph, outlook_id)["reminderMinutesBeforeStart"] == 60
    response = api_client.put(f"{BASE}/settings", {"syncPreferences": {"notificationMinutes": [1440]}})
    assert response.status_code == 200, response.content
    wait_for_idle(api_client)
    run_sync(api_client, sync_type="full_sync")
    assert _outlook(graph, outlook_id)["reminderMinutesBeforeStart"] == 1440


def test_08_a_subject_retyped_without_the_prefix_is_written_back_with_it(api_client, graph, synced):
    event, outlook_id = synced["event"], synced["outlook_id"]
    graph.update_event(MAILBOX, outlook_id, {"subject": "Tasting (moved to Friday)"})
    run_sync(api_client)
    assert _event(api_client, event["id"])["title"] == "Tasting (moved to Friday)"
    assert _outlook(graph, outlook_id)["subject"] == "WedSync: Tasting (moved to Friday)"
    run_sync(api_client)
    assert _event(api_client, event["id"])["title"] == "Tasting (moved to Friday)"  # no "WedSync: " doubling


# --------------------------------------------------------------------------- 9


def test_09_switching_calendars_keeps_an_unsynced_outlook_edit(api_client, graph, synced):
    event, outlook_id = synced["event"], synced["outlook_id"]
    graph.update_event(MAILBOX, outlook_id, {"location": {"displayName": "The Orangery"}})  # notification lost
    other = graph.create_calendar(MAILBOX, "Weddings")
    response = api_client.put(f"{BASE}/settings", {"calendarId": other["id"]})
    assert response.status_code == 200, response.content
    wait_for_idle(api_client)

    assert _event(api_client, event["id"])["location"] == "The Orangery"
    assert _outlook(graph, outlook_id) is None  # the old copy is gone ...
    copies = _ours(graph)
    assert len(copies) == 1 and copies[0]["location"]["displayName"] == "The Orangery"  # ... and the new one has the edit


# --------------------------------------------------------------------------- 10


def test_10_a_copy_is_forgotten_only_once_outlook_confirmed_its_removal(api_client, graph, synced):
    event, outlook_id = synced["event"], synced["outlook_id"]
    graph.inject_fault("DELETE", r"/events/", status=503, count=None, retry_after=0)  # also batch items
    api_client.delete(f"/api/events/{event['id']}/")
    wait_for(lambda: (_mapped(api_client, event["id"]) or {}).get("syncStatus") == "error", timeout=120, message="delete refused")
    wait_for_idle(api_client, timeout=120)
    assert _outlook(graph, outlook_id) is not None
    assert _mapped(api_client, event["id"]) is not None  # still known: the next run tries again

    graph.clear_faults()
    run_sync(api_client)  # an incremental run, not a full one
    assert _outlook(graph, outlook_id) is None
    assert _mapped(api_client, event["id"]) is None


# --------------------------------------------------------------------------- 12


def test_12_a_lost_mapping_is_found_by_its_tag_not_created_again(api_client, graph, supplier):
    """After a crash between the Graph create and the mapping write, with Graph's transactionId memory gone."""
    from outlook_sync.models import OutlookCalendarIntegration
    from outlook_sync.sync import mapping

    event = _create_event(api_client)
    connect(api_client, graph)
    wait_for_idle(api_client)
    integration = OutlookCalendarIntegration.objects.get(user=supplier)
    (copy,) = _ours(graph)
    # The world after the crash: Graph holds our tagged copy, made with another transactionId; we hold no mapping.
    graph.delete_event(MAILBOX, copy["id"])
    graph.create_event(MAILBOX, {
        "subject": copy["subject"], **{k: copy[k] for k in ("start", "end", "location", "body")},
        "singleValueExtendedProperties": [{"id": mapping.TAG_PROPERTY_ID, "value": f"{integration.pk}:{event['id']}"}],
    }, calendar_id=integration.calendar_id)
    integration.mappings.all().delete()

    _edit(api_client, event["id"], title="Tasting (confirmed)")  # a push: it creates what has no mapping
    wait_for(lambda: _mapped(api_client, event["id"]), message="push of the unmapped event")
    wait_for_idle(api_client)

    copies = _ours(graph)
    assert len(copies) == 1  # found by its tag, not made again
    # Without a base nobody can say which side changed the title: the supplier is asked, nothing is overwritten.
    mapped = _mapped(api_client, event["id"])
    assert mapped["outlookEventId"] == copies[0]["id"] and mapped["syncStatus"] == "conflict"
    assert mapped["syncConflicts"][0]["field"] == "title" and mapped["syncConflicts"][0]["wedSyncValue"] == "Tasting (confirmed)"


# --------------------------------------------------------------------------- 15


def test_15_recurring_outlook_meetings_are_read_through_their_master(api_client, graph, synced):
    """Occurrences in delta carry only id, type, seriesMasterId, start and end: showAs, all-day and subject come from the master."""
    start = at(3, 14)
    weekly = {"type": "weekly", "interval": 1, "daysOfWeek": [start.strftime("%A").lower()]}
    rng = {"type": "numbered", "startDate": start.date().isoformat(), "numberOfOccurrences": 3}
    graph.create_event(MAILBOX, {"subject": "Planning call", **graph_when(start, at(3, 15)), "showAs": "free",
                                 "recurrence": {"pattern": weekly, "range": rng}})
    graph.create_event(MAILBOX, {"subject": "Studio day", "isAllDay": True, "showAs": "busy",
                                 "start": {"dateTime": f"{at(10, 0).date().isoformat()}T00:00:00.0000000", "timeZone": "UTC"},
                                 "end": {"dateTime": f"{at(11, 0).date().isoformat()}T00:00:00.0000000", "timeZone": "UTC"},
                                 "recurrence": {"pattern": {"type": "daily", "interval": 7},
                                                "range": {"type": "numbered", "startDate": at(10, 0).date().isoformat(), "numberOfOccurrences": 2}}})
    run_sync(api_client)

    free_slot = _create_event(api_client, title="Over the free planning call", startsAt=at(10 + 0, 9).isoformat(), endsAt=at(10, 10).isoformat())
    assert free_slot.get("warnings", []) == ["You have “Studio day” in Outlook at that time."]  # an all-day block, named from its master
    planning = _create_event(api_client, title="Over the planning call", startsAt=start.isoformat(), endsAt=at(3, 15).isoformat())
    # Free in Outlook: no false double-booking warning from Outlook (the supplier's own tasting at that hour is a real one).
    assert [w for w in planning.get("warnings", []) if "in Outlook" in w] == []


def test_15_a_wedsync_event_turned_into_a_series_in_outlook_is_a_conflict(api_client, graph, synced):
    event, outlook_id = synced["event"], synced["outlook_id"]
    run_sync(api_client)
    start = at(3, 14)
    graph.update_event(MAILBOX, outlook_id, {"recurrence": {
        "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": [start.strftime("%A").lower()]},
        "range": {"type": "numbered", "startDate": start.date().isoformat(), "numberOfOccurrences": 4}}})
    run_sync(api_client)
    run_sync(api_client, sync_type="full_sync")

    mapped = _mapped(api_client, event["id"])
    assert mapped["syncStatus"] == "conflict" and [c["field"] for c in mapped["syncConflicts"]] == ["when"]
    assert mapped["syncConflicts"][0]["outlookValue"] == {"recurring": True}
    assert _event(api_client, event["id"])["isDeleted"] is False
    assert len(_ours(graph)) == 1  # not duplicated
    assert _outlook(graph, outlook_id)["type"] == "seriesMaster"  # not flattened


# --------------------------------------------------------------------------- 16


def test_16_outlook_changing_an_event_by_itself_is_no_edit_and_no_conflict(api_client, graph, synced):
    event, outlook_id = synced["event"], synced["outlook_id"]
    before = _outlook(graph, outlook_id)
    # Outlook rewrites the body as HTML (what Exchange does after a create); the text is the same.
    graph.update_event(MAILBOX, outlook_id, {"body": {"contentType": "html", "content": "<html><body></body></html>"}})
    version = _event(api_client, event["id"])["version"]
    _edit(api_client, event["id"], location="The Walled Garden")  # the push meets 412, re-reads, merges cleanly
    wait_for(lambda: (_outlook(graph, outlook_id) or {}).get("location", {}).get("displayName") == "The Walled Garden", message="push")
    wait_for_idle(api_client)
    run_sync(api_client)
    run_sync(api_client, sync_type="full_sync")

    assert _mapped(api_client, event["id"])["syncStatus"] == "synced"
    assert _event(api_client, event["id"])["version"] == version + 1  # only the supplier's own edit
    assert _outlook(graph, outlook_id)["changeKey"] != before["changeKey"]


# --------------------------------------------------------------------------- 17


def test_17_notifications_of_a_failed_run_stay_unprocessed(api_client, graph, settings, live_server):
    from outlook_sync.models import OutlookNotification

    settings.WEBHOOK_PUBLIC_BASE_URL = live_server.url
    event = _create_event(api_client)
    connect(api_client, graph)
    wait_for_idle(api_client)
    wait_for(lambda: api_client.get(f"{BASE}/sync").json()["webhookStatus"]["isActive"], message="subscription")
    outlook_id = _mapped(api_client, event["id"])["outlookEventId"]
    graph.inject_fault("GET", r"calendarView/delta", status=503, count=None, retry_after=0)
    graph.update_event(MAILBOX, outlook_id, {"location": {"displayName": "The Orangery"}})
    wait_for(lambda: OutlookNotification.objects.exists(), message="notification stored")
    wait_for(lambda: any(r["syncType"] == "webhook_triggered" and r["syncStatus"] == "failed"
                         for r in api_client.get(f"{BASE}/sync").json()["recentSyncHistory"]), timeout=180, message="failed run")
    assert OutlookNotification.objects.filter(processed_at__isnull=True).exists()
    graph.clear_faults()


def test_17_a_throttled_force_sync_is_retried_as_a_force_sync(api_client, graph, synced):
    """The follow-up of a forced run that Outlook throttled is forced too (its mode is its own column)."""
    event, outlook_id = synced["event"], synced["outlook_id"]
    graph.update_event(MAILBOX, outlook_id, {"location": {"displayName": "The Orangery"}})  # notification lost
    _edit(api_client, event["id"], location="The Walled Garden")
    wait_for(lambda: (_mapped(api_client, event["id"]) or {}).get("syncStatus") == "conflict", message="location conflict")
    wait_for_idle(api_client)
    graph.inject_fault("GET", r"/me/events/", status=429, count=6, retry_after=1)

    response = api_client.post(f"{BASE}/events/{event['id']}/force-sync", {"direction": "to_outlook", "overwriteConflicts": True})
    assert response.status_code in (200, 202), response.content

    # The forced run is throttled as a whole; its follow-up (after Retry-After, at least 30 s) forces WedSync's value.
    wait_for(lambda: (_outlook(graph, outlook_id) or {}).get("location", {}).get("displayName") == "The Walled Garden",
             timeout=120, interval=1, message="forced follow-up run")
    wait_for_idle(api_client)
    assert _mapped(api_client, event["id"])["syncStatus"] == "synced"


# --------------------------------------------------------------------------- found by mutation testing (scripts/mutation.sh --engine)


def test_an_attendee_added_in_outlook_to_an_invited_meeting_reaches_wedsync(api_client, graph):
    """Outlook's copy is read with its event's type, whose attendees are synced (a mutant reading it untyped lost them)."""
    connect(api_client, graph)
    wait_for_idle(api_client)
    event = _create_event(api_client, attendees=[{"name": "Rosa", "email": "rosa@example.com"}])  # one new meeting: invited
    _pushed(api_client)
    outlook_id = wait_for(lambda: (_mapped(api_client, event["id"]) or {}).get("outlookEventId"), message="copy made")
    attendees = [{"emailAddress": {"address": a, "name": a.split("@")[0]}, "type": "required"} for a in ("rosa@example.com", "sam@example.com")]
    graph.update_event(MAILBOX, outlook_id, {"attendees": attendees})  # notification lost

    run_sync(api_client)

    assert sorted(a["email"] for a in _event(api_client, event["id"])["attendees"]) == ["rosa@example.com", "sam@example.com"]


def test_a_title_that_starts_like_the_prefix_survives_an_outlook_edit(api_client, graph):
    """The prefix is stripped once, the one applied to that copy (a mutant stripping it twice renamed the event)."""
    event = _create_event(api_client, title="WedSync: menu tasting")
    connect(api_client, graph)
    wait_for_idle(api_client)
    outlook_id = _mapped(api_client, event["id"])["outlookEventId"]
    assert _outlook(graph, outlook_id)["subject"] == "WedSync: WedSync: menu tasting"
    graph.update_event(MAILBOX, outlook_id, {"location": {"displayName": "The Orangery"}})  # notification lost

    run_sync(api_client)

    current = _event(api_client, event["id"])
    assert (current["title"], current["location"]) == ("WedSync: menu tasting", "The Orangery")
    assert _outlook(graph, outlook_id)["subject"] == "WedSync: WedSync: menu tasting"
