"""Two-way sync (issue 6) through the REST API, a real Celery worker and the emulator.

WedSync events are changed through ``/api/events/`` (as WedSync would), Outlook
events through the emulator's control API (as the supplier would in Outlook).
"""
from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from outlook_sync.models import OutlookBusyTime, OutlookCalendarIntegration, OutlookEventMapping, OutlookSyncHistory
from outlook_sync.sync import mapping
from tests.conftest import MAILBOX, settle, wait_for
from tests.integration.outlook_helpers import BASE, at, connect, disconnect, graph_when, run_sync, wait_for_disconnect, wait_for_idle

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

LONDON = "Europe/London"


def _create_event(api_client, **overrides) -> dict:
    body = {
        "eventType": "client_meeting", "title": "Consultation with Priya & Sam", "location": "The Old Barn",
        "startsAt": at(3, 14).isoformat(), "endsAt": at(3, 15).isoformat(), "timeZone": LONDON,
        "attendees": [{"name": "Priya", "email": "priya@example.com"}],
    } | overrides
    response = api_client.post("/api/events/", body)
    assert response.status_code == 201, response.content
    return response.json()


def _ours(graph) -> list[dict]:
    return [e for e in graph.events(MAILBOX) if e["subject"].startswith("WedSync: ")]


def _outlook_event_of(api_client, event_id: str) -> str:
    mapped = api_client.get(f"{BASE}/events").json()["events"]
    return next(e["outlookEventId"] for e in mapped if e["wedSyncEventId"] == event_id)


def _mapped(api_client, event_id: str) -> dict:
    return next(e for e in api_client.get(f"{BASE}/events").json()["events"] if e["wedSyncEventId"] == event_id)


@pytest.fixture(autouse=True)
def _settle(api_client, graph):  # after ``graph``: torn down while the settings still point at the emulator
    """Let the worker finish this test's pushes before the next test empties the database."""
    yield
    settle(graph)  # a push is scheduled 0.3 s after the change that caused it
    if api_client.get(f"{BASE}/sync").status_code == 200:
        wait_for_idle(api_client)


@pytest.fixture
def synced(api_client, graph, supplier):
    """A supplier with three WedSync events and one private Outlook event, connected and fully synced."""
    events = [
        _create_event(api_client),
        _create_event(api_client, eventType="wedding_ceremony", title="Ceremony: Priya & Sam", startsAt=at(5, 15).isoformat(), endsAt=at(5, 16).isoformat(), attendees=[]),
        _create_event(api_client, eventType="deadline", title="Final numbers to caterer", startsAt=at(4, 0).isoformat(), endsAt=at(5, 0).isoformat(), isAllDay=True, attendees=[]),
    ]
    dentist = graph.create_event(MAILBOX, {"subject": "Dentist", **graph_when(at(3, 14, 30), at(3, 15, 30)), "showAs": "busy"})
    connect(api_client, graph)
    wait_for_idle(api_client)
    return {"events": events, "dentist": dentist}


def test_initial_full_sync_both_ways(api_client, graph, synced):
    ours = _ours(graph)
    assert sorted(e["subject"] for e in ours) == ["WedSync: Ceremony: Priya & Sam", "WedSync: Consultation with Priya & Sam", "WedSync: Final numbers to caterer"]
    consultation = next(e for e in ours if "Consultation" in e["subject"])
    assert consultation["attendees"] == [] and graph.invitations() == []  # connecting never mails anyone (issue 17)
    ceremony = next(e for e in ours if "Ceremony" in e["subject"])
    assert ceremony["attendees"] == []  # ceremonies never mail invitations
    deadline = next(e for e in ours if "Final numbers" in e["subject"])
    assert deadline["isAllDay"] is True
    assert len(graph.events(MAILBOX)) == 4  # the supplier's own Dentist appointment is untouched
    mapped = api_client.get(f"{BASE}/events").json()
    assert mapped["pagination"]["totalEvents"] == 3 and {e["syncStatus"] for e in mapped["events"]} == {"synced"}
    history = api_client.get(f"{BASE}/sync").json()["recentSyncHistory"]
    full = next(run for run in history if run["syncType"] == "full_sync")
    assert full["syncStatus"] == "completed" and full["eventsCreated"] == 3 and full["reason"] == "connect"
    # The Dentist appointment is busy time, shown as a warning when a WedSync event overlaps it.
    assert OutlookBusyTime.objects.filter(subject="Dentist").count() == 1
    clash = _create_event(api_client, title="Venue walk-through", eventType="venue_visit", startsAt=at(3, 15).isoformat(), endsAt=at(3, 16).isoformat())
    assert clash["warnings"] == ["You have “Dentist” in Outlook at that time."]


def test_wedsync_edit_move_and_delete_reach_outlook_without_a_manual_sync(api_client, graph, synced):
    consultation = synced["events"][0]
    outlook_id = _outlook_event_of(api_client, consultation["id"])

    api_client.patch(f"/api/events/{consultation['id']}/", {"title": "Consultation: menu tasting", "startsAt": at(3, 16).isoformat(), "endsAt": at(3, 17).isoformat()})
    moved = wait_for(lambda: next((e for e in graph.events(MAILBOX) if e["id"] == outlook_id and "menu tasting" in e["subject"]), None), message="push to Outlook")
    assert moved["subject"] == "WedSync: Consultation: menu tasting"
    assert moved["start"]["dateTime"].startswith(at(3, 16).strftime("%Y-%m-%dT%H:%M"))

    api_client.delete(f"/api/events/{consultation['id']}/")
    wait_for(lambda: all(e["id"] != outlook_id for e in graph.events(MAILBOX)), message="delete in Outlook")
    assert len(_ours(graph)) == 2


def test_outlook_move_and_delete_reach_wedsync(api_client, graph, synced):
    ceremony = synced["events"][1]
    outlook_id = _outlook_event_of(api_client, ceremony["id"])

    graph.update_event(MAILBOX, outlook_id, graph_when(at(5, 16), at(5, 17)))
    job = run_sync(api_client)
    assert job["status"] == "completed" and job["progress"]["updatedEvents"] == 1
    event = api_client.get(f"/api/events/{ceremony['id']}/").json()
    assert dt.datetime.fromisoformat(event["startsAt"]) == at(5, 16)
    assert event["title"] == "Ceremony: Priya & Sam"  # prefix stripped on the way back

    graph.delete_event(MAILBOX, outlook_id)
    run_sync(api_client)
    assert api_client.get(f"/api/events/{ceremony['id']}/").json()["isDeleted"] is True  # a tombstone, as WedSync keeps them
    assert all(e["wedSyncEventId"] != ceremony["id"] for e in api_client.get(f"{BASE}/events").json()["events"])


def test_own_writes_are_not_echoed_back(api_client, graph, synced):
    consultation = synced["events"][0]
    version = api_client.get(f"/api/events/{consultation['id']}/").json()["version"]

    job = run_sync(api_client)

    assert job["status"] == "completed"
    assert job["progress"]["updatedEvents"] == 0 and job["progress"]["createdEvents"] == 0
    assert api_client.get(f"/api/events/{consultation['id']}/").json()["version"] == version


def test_edits_of_different_fields_on_both_sides_are_both_kept(api_client, graph, synced):
    consultation = synced["events"][0]
    outlook_id = _outlook_event_of(api_client, consultation["id"])
    # Outlook first (no push happens for it), then WedSync: both before any run sees either.
    graph.update_event(MAILBOX, outlook_id, {"location": {"displayName": "Café Rouge, Bath"}})
    api_client.patch(f"/api/events/{consultation['id']}/", {"title": "Consultation & tasting"})
    wait_for_idle(api_client)
    run_sync(api_client)

    event = api_client.get(f"/api/events/{consultation['id']}/").json()
    outlook = next(e for e in graph.events(MAILBOX) if e["id"] == outlook_id)
    assert event["title"] == "Consultation & tasting" and event["location"] == "Café Rouge, Bath"
    assert outlook["subject"] == "WedSync: Consultation & tasting" and outlook["location"]["displayName"] == "Café Rouge, Bath"
    assert _mapped(api_client, consultation["id"])["syncStatus"] == "synced"


def _make_title_conflict(api_client, graph, event_id: str, *, ours: str, theirs: str) -> str:
    outlook_id = _outlook_event_of(api_client, event_id)
    graph.update_event(MAILBOX, outlook_id, {"subject": f"WedSync: {theirs}"})
    api_client.patch(f"/api/events/{event_id}/", {"title": ours})
    wait_for_idle(api_client)
    run_sync(api_client)
    return outlook_id


@pytest.mark.parametrize("choice", ["wedsync", "outlook", "custom"])
def test_same_field_edited_on_both_sides_is_a_conflict_resolved_by_the_supplier(api_client, graph, synced, choice):
    consultation = synced["events"][0]
    outlook_id = _make_title_conflict(api_client, graph, consultation["id"], ours="Consultation (WedSync)", theirs="Consultation (Outlook)")
    mapped = _mapped(api_client, consultation["id"])
    assert mapped["syncStatus"] == "conflict"
    assert mapped["syncConflicts"] == [{
        "field": "title", "wedSyncValue": "Consultation (WedSync)", "outlookValue": "Consultation (Outlook)",
        "conflictType": "title", "suggestedResolution": mapped["syncConflicts"][0]["suggestedResolution"],
    }]
    assert api_client.get(f"{BASE}/sync").json()["syncStats"]["conflictedEvents"] == 1

    resolution = {"useValue": choice} | ({"customValue": "Consultation (agreed)"} if choice == "custom" else {})
    response = api_client.post(f"{BASE}/events/{consultation['id']}/resolve", {"resolutions": {"title": resolution}})
    assert response.status_code == 200, response.content
    wait_for_idle(api_client)

    expected = {"wedsync": "Consultation (WedSync)", "outlook": "Consultation (Outlook)", "custom": "Consultation (agreed)"}[choice]
    assert api_client.get(f"/api/events/{consultation['id']}/").json()["title"] == expected
    outlook = next(e for e in graph.events(MAILBOX) if e["id"] == outlook_id)
    assert outlook["subject"] == f"WedSync: {expected}"
    assert _mapped(api_client, consultation["id"])["syncStatus"] == "synced"


def test_set_as_default_resolves_the_next_conflict_of_that_kind(api_client, graph, synced):
    consultation = synced["events"][0]
    _make_title_conflict(api_client, graph, consultation["id"], ours="A (WedSync)", theirs="A (Outlook)")
    response = api_client.post(f"{BASE}/events/{consultation['id']}/resolve", {"resolutions": {"title": {"useValue": "outlook"}}, "setAsDefault": True})
    assert response.status_code == 200
    wait_for_idle(api_client)

    outlook_id = _make_title_conflict(api_client, graph, consultation["id"], ours="B (WedSync)", theirs="B (Outlook)")

    assert _mapped(api_client, consultation["id"])["syncStatus"] == "synced"
    assert api_client.get(f"/api/events/{consultation['id']}/").json()["title"] == "B (Outlook)"
    assert next(e for e in graph.events(MAILBOX) if e["id"] == outlook_id)["subject"] == "WedSync: B (Outlook)"


def test_deleted_in_wedsync_while_edited_in_outlook_is_a_conflict(api_client, graph, synced):
    consultation = synced["events"][0]
    outlook_id = _outlook_event_of(api_client, consultation["id"])
    api_client.put(f"{BASE}/settings", {"syncEnabled": False})
    api_client.delete(f"/api/events/{consultation['id']}/")
    graph.update_event(MAILBOX, outlook_id, {"location": {"displayName": "Moved to the Orangery"}})
    api_client.put(f"{BASE}/settings", {"syncEnabled": True})
    wait_for_idle(api_client)

    mapped = _mapped(api_client, consultation["id"])
    assert mapped["syncStatus"] == "conflict"
    assert mapped["syncConflicts"][0]["field"] == "deleted"
    assert any(e["id"] == outlook_id for e in graph.events(MAILBOX))  # nothing deleted behind the supplier's back

    api_client.post(f"{BASE}/events/{consultation['id']}/resolve", {"resolutions": {"deleted": {"useValue": "outlook"}}})
    wait_for_idle(api_client)
    restored = api_client.get(f"/api/events/{consultation['id']}/").json()
    assert restored["location"] == "Moved to the Orangery"


def test_crash_between_outlook_create_and_mapping_write_makes_no_duplicate(api_client, graph, supplier):
    """A run that created the Outlook event but died before storing the mapping: the re-run adopts it."""
    event = _create_event(api_client)
    body = connect(api_client, graph)
    wait_for_idle(api_client)
    integration = OutlookCalendarIntegration.objects.get(user=supplier)
    # Put the world back to "Graph has the event, we have no mapping", as after a crash.
    OutlookEventMapping.objects.filter(integration=integration).delete()
    assert len(_ours(graph)) == 1

    job = run_sync(api_client, sync_type="full_sync")

    assert job["status"] == "completed"
    assert len(_ours(graph)) == 1
    assert OutlookEventMapping.objects.filter(integration=integration, wedsync_event_id=event["id"]).count() == 1
    assert body["integration"]["id"] == str(integration.pk)


def test_transaction_id_makes_a_retried_create_return_the_same_event(api_client, graph, supplier):
    """Graph's side of idempotent creates: the payload we send twice yields one event."""
    event = _create_event(api_client)
    connect(api_client, graph)
    wait_for_idle(api_client)
    integration = OutlookCalendarIntegration.objects.get(user=supplier)
    expected = mapping.transaction_id(str(integration.pk), event["id"])
    assert [e["transactionId"] for e in _ours(graph)] == [expected]


def test_expired_delta_token_falls_back_to_a_full_read_without_duplicates(api_client, graph, synced):
    ceremony = synced["events"][1]
    outlook_id = _outlook_event_of(api_client, ceremony["id"])
    graph.expire_delta_tokens()
    graph.update_event(MAILBOX, outlook_id, {"location": {"displayName": "St Mary's, Oxford"}})

    job = run_sync(api_client)

    assert job["status"] == "completed"
    assert api_client.get(f"/api/events/{ceremony['id']}/").json()["location"] == "St Mary's, Oxford"
    assert len(_ours(graph)) == 3 and len(graph.events(MAILBOX)) == 4
    assert api_client.get(f"{BASE}/events").json()["pagination"]["totalEvents"] == 3


def test_disconnect_removes_exactly_our_events(api_client, graph, synced):
    answer, done = disconnect(api_client)

    # The request only starts it: the spec's counts say what is done when answering (nothing), WedSync's additions what will be.
    assert answer == {"success": True, "eventsDeleted": 0, "mappingsDeleted": 0, "webhookUnsubscribed": False, "disconnectState": "in_progress",
                      "disconnectId": answer["disconnectId"], "eventsToRemove": 3, "eventsKept": 0}
    assert (done["status"], done["removeEvents"], done["eventsRemoved"], done["eventsToRemove"], done["mappingsDeleted"], done["eventsKept"],
            done["eventsNotRemoved"]) == ("completed", True, 3, 3, 3, 0, 0), done
    assert done["id"] == answer["disconnectId"] and done["summary"].startswith("Outlook is disconnected. We removed 3 events WedSync had added")
    remaining = graph.events(MAILBOX)
    assert [e["subject"] for e in remaining] == ["Dentist"]
    assert api_client.get(f"{BASE}/sync").status_code == 404


def test_disconnect_can_leave_our_events_in_outlook_as_ordinary_events(api_client, graph, synced, supplier):
    def content(events) -> dict:  # what the supplier sees of each event (Outlook's own later changes move changeKeys)
        return {e["id"]: (e["subject"], e["start"], e["end"], e.get("location")) for e in events}

    before = content(graph.events(MAILBOX))

    answer, done = disconnect(api_client, remove_events=False)

    assert (answer["eventsDeleted"], answer["eventsToRemove"], answer["eventsKept"]) == (0, 0, 3)
    assert (done["removeEvents"], done["eventsRemoved"], done["eventsKept"], done["mappingsDeleted"]) == (False, 0, 3, 3), done
    assert "We left 3 events in your Outlook calendar as ordinary events" in done["summary"]
    settle(graph)
    assert content(graph.events(MAILBOX)) == before  # nothing in Outlook was written or removed
    assert graph.invitations() == []  # and nobody was mailed
    assert api_client.get(f"{BASE}/sync").status_code == 404
    assert len(api_client.get("/api/events/").json()["events"]) == 3  # WedSync keeps its events

    # Connected again, the left-behind copies are the supplier's own: never deleted, adopted or edited by the new integration.
    connect(api_client, graph)
    wait_for_idle(api_client)
    settle(graph)
    after = content(graph.events(MAILBOX))
    assert {outlook_id: after.get(outlook_id) for outlook_id in before} == before
    assert len(after) == 4 + 3  # each WedSync event is added again beside its old copy, as the page warns


def test_disconnect_with_a_bad_choice_is_refused_and_changes_nothing(api_client, graph, synced):
    response = api_client.delete(f"{BASE}/integration?removeEvents=maybe")

    assert response.status_code == 400 and response.json()["error"]["code"] == "validation_error"
    assert "removeEvents" in response.json()["error"]["details"]
    settle(graph)
    assert api_client.get(f"{BASE}/sync").status_code == 200 and len(_ours(graph)) == 3
    assert api_client.get(f"{BASE}/integration").json() == {"connectionState": "connected", "disconnect": None}


def test_the_disconnect_page_offers_both_choices_and_keeping_writes_nothing(api_client, graph, synced, supplier):
    from django.test import Client

    browser = Client()
    browser.force_login(supplier)
    page = browser.get("/calendar/outlook/disconnect/").content.decode()
    assert "Remove WedSync's events from Outlook" in page and "Leave them in Outlook as ordinary events" in page
    before = sorted((e["id"], e["subject"]) for e in graph.events(MAILBOX))

    answer = browser.post("/calendar/outlook/disconnect/", {"events": "keep"}, follow=True)

    assert answer.redirect_chain == [("/calendar/outlook/disconnect/", 302)]
    assert "Disconnecting… leaving 3 events in your Outlook calendar." in answer.content.decode() or "Outlook is disconnected" in answer.content.decode()
    wait_for_disconnect(api_client)
    assert "We left 3 events in your Outlook calendar as ordinary events" in browser.get("/calendar/outlook/disconnect/").content.decode()
    settle(graph)
    assert sorted((e["id"], e["subject"]) for e in graph.events(MAILBOX)) == before


def test_second_sync_request_while_one_runs_is_queued_not_run_twice(api_client, graph, synced):
    graph.set_config(service_time_ms=300)
    graph.inject_fault("GET", r"calendarView/delta", latency_ms=8_000, count=1)  # the first run's read is held: it still runs below
    first = api_client.post(f"{BASE}/sync", {"syncType": "full_sync"}).json()
    second = api_client.post(f"{BASE}/sync", {"syncType": "full_sync"}).json()
    third = api_client.post(f"{BASE}/sync", {"syncType": "full_sync"}).json()

    assert first["status"] == "started"
    # A run waits (queued) until a worker takes it, and a waiting run absorbs further requests. The second
    # request joined the first if no worker had taken it yet, else it waits behind it; the third joins
    # whichever run is waiting then. Either way three requests make at most two runs, one of them waiting.
    assert second["syncId"] == first["syncId"] or second["status"] == "queued"
    assert third["syncId"] == second["syncId"] or (second["syncId"] == first["syncId"] and third["status"] == "queued")
    assert len({first["syncId"], second["syncId"], third["syncId"]}) <= 2
    wait_for_idle(api_client)


def test_switching_a_type_off_removes_its_events_from_outlook(api_client, graph, synced):
    response = api_client.put(f"{BASE}/settings", {"syncPreferences": {"syncDeadlines": False}})
    assert response.status_code == 200
    assert response.json()["requiresFullResync"] is True
    wait_for_idle(api_client)

    assert sorted(e["subject"] for e in _ours(graph)) == ["WedSync: Ceremony: Priya & Sam", "WedSync: Consultation with Priya & Sam"]


def test_unknown_sync_job_and_bad_input_are_clear_4xx(api_client, graph, synced):
    assert api_client.get(f"{BASE}/sync/{uuid.uuid4()}").status_code == 404
    bad = api_client.post(f"{BASE}/sync", {"syncType": "everything"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "validation_error"
    bad_settings = api_client.put(f"{BASE}/settings", {"syncPreferences": {"notificationMinutes": "soon"}})
    assert bad_settings.status_code == 400 and bad_settings.json()["success"] is False
    unknown = api_client.post(f"{BASE}/events/{uuid.uuid4()}/resolve", {"resolutions": {"title": {"useValue": "wedsync"}}})
    assert unknown.status_code == 404


@pytest.mark.parametrize("direction", ["to_outlook", "from_outlook"])
def test_force_sync_makes_one_side_win_for_one_event(api_client, graph, synced, direction):
    consultation = synced["events"][0]
    outlook_id = _outlook_event_of(api_client, consultation["id"])
    api_client.put(f"{BASE}/settings", {"syncEnabled": False})
    graph.update_event(MAILBOX, outlook_id, {"location": {"displayName": "Outlook's room"}})
    api_client.patch(f"/api/events/{consultation['id']}/", {"location": "WedSync's room"})
    api_client.put(f"{BASE}/settings", {"syncEnabled": True})
    wait_for_idle(api_client)
    assert _mapped(api_client, consultation["id"])["syncStatus"] == "conflict"

    refused = api_client.post(f"{BASE}/events/{consultation['id']}/force-sync", {"direction": direction})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "has_conflict"
    forced = api_client.post(f"{BASE}/events/{consultation['id']}/force-sync", {"direction": direction, "overwriteConflicts": True})
    assert forced.status_code == 202
    wait_for_idle(api_client)

    expected = "WedSync's room" if direction == "to_outlook" else "Outlook's room"
    assert api_client.get(f"/api/events/{consultation['id']}/").json()["location"] == expected
    assert graph.event(MAILBOX, outlook_id)["location"]["displayName"] == expected
    assert _mapped(api_client, consultation["id"])["syncStatus"] == "synced"


def test_sync_of_specific_events_only_touches_them(api_client, graph, synced):
    other = synced["events"][1]
    new = _create_event(api_client, title="Tasting at Petal & Stem", startsAt=at(6, 11).isoformat(), endsAt=at(6, 12).isoformat())
    wait_for_idle(api_client)
    started = api_client.post(f"{BASE}/sync", {"specificEvents": [new["id"], other["id"]]})
    # Both are in Outlook already and unchanged since: nothing to send (eventsToProcess counts the run's real work).
    assert started.status_code == 202 and started.json()["eventsToProcess"] == 0
    unknown = api_client.post(f"{BASE}/sync", {"specificEvents": [str(uuid.uuid4())]})
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "unknown_events"
    wait_for_idle(api_client)
    assert any(e["subject"] == "WedSync: Tasting at Petal & Stem" for e in graph.events(MAILBOX))


def test_a_mailbox_throttled_for_long_is_shown_to_the_supplier_and_retried_later(api_client, graph, synced):
    graph.inject_fault("GET", r"calendarView/delta", status=429, count=1, retry_after=600, error_code="ApplicationThrottled")

    job = run_sync(api_client)

    assert job["status"] == "failed"
    error = job["errors"][-1]
    assert error["errorCode"] == "throttled" and error["retryable"] is True
    assert "slow down" in error["errorMessage"]
    status = api_client.get(f"{BASE}/sync").json()
    assert status["integration"]["throttledUntil"] > timezone.now().isoformat()
    waiting = [run for run in status["recentSyncHistory"] if run["reason"] == "retry"]
    assert len(waiting) == 1 and waiting[0]["syncStatus"] == "queued"  # queued for after Retry-After
    OutlookSyncHistory.objects.filter(triggered_by="retry").update(sync_status="cancelled")  # not waiting 10 minutes in a test


def test_safety_net_sync_is_incremental_and_a_full_read_once_a_day(api_client, graph, synced):
    from outlook_sync import tasks

    assert tasks.safety_net_sync.apply().get() == 1
    wait_for_idle(api_client)
    OutlookSyncHistory.objects.filter(sync_type="full_sync").update(completed_at=timezone.now() - dt.timedelta(days=2))
    assert tasks.safety_net_sync.apply().get() == 1
    wait_for_idle(api_client)

    scheduled = [run["syncType"] for run in api_client.get(f"{BASE}/sync").json()["recentSyncHistory"] if run["reason"] == "schedule"]
    assert scheduled == ["full_sync", "incremental"]  # newest first
