"""Undo of what a sync changed (issue 18), through the REST API, a real Celery worker and the emulator.

WedSync events are changed through ``/api/events/``, Outlook events through the
emulator's control API (as the supplier would in Outlook); the journal is read
through ``GET /sync/{syncId}/changes``.
"""
from __future__ import annotations

import datetime as dt
import time

import pytest
from django.utils import timezone

from outlook_sync.models import OutlookCalendarIntegration, OutlookSyncChange, OutlookSyncHistory
from tests.conftest import MAILBOX, wait_for
from tests.integration.outlook_helpers import BASE, at, connect, graph_when, run_sync, wait_for_idle

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

LONDON = "Europe/London"


def _create_event(api_client, **overrides) -> dict:
    body = {
        "eventType": "wedding_ceremony", "title": "Ceremony: Priya & Sam", "location": "The Old Barn",
        "startsAt": at(5, 15).isoformat(), "endsAt": at(5, 16).isoformat(), "timeZone": LONDON, "attendees": [],
    } | overrides
    response = api_client.post("/api/events/", body)
    assert response.status_code == 201, response.content
    return response.json()


def _mapped(api_client) -> list[dict]:
    return api_client.get(f"{BASE}/events", {"pageSize": 100}).json()["events"]


def _outlook_id(api_client, event_id: str) -> str:
    return next(e["outlookEventId"] for e in _mapped(api_client) if e["wedSyncEventId"] == event_id)


def _ours(graph) -> list[dict]:
    return [e for e in graph.events(MAILBOX) if e["subject"].startswith(("WedSync:", "WS:"))]


def _changes(api_client, sync_id: str) -> list[dict]:
    response = api_client.get(f"{BASE}/sync/{sync_id}/changes")
    assert response.status_code == 200, response.content
    return response.json()["changes"]


def _wait_job(api_client, sync_id: str) -> dict:
    def finished():
        job = api_client.get(f"{BASE}/sync/{sync_id}").json()
        return job if job["status"] not in ("queued", "in_progress") else None

    return wait_for(finished, timeout=90, message=f"sync {sync_id}")


def _starts(graph, outlook_id: str) -> str:
    return graph.event(MAILBOX, outlook_id)["start"]["dateTime"][:16]


@pytest.fixture(autouse=True)
def _settle(api_client, graph):
    """Let the worker finish this test's runs before the next test empties the database."""
    yield
    if api_client.get(f"{BASE}/sync").status_code == 200:
        wait_for(lambda: not OutlookSyncHistory.objects.filter(sync_status="in_progress").exists(), timeout=90, message="runs to finish")


@pytest.fixture
def ceremony(api_client, graph, supplier):
    event = _create_event(api_client)
    connect(api_client, graph)
    wait_for_idle(api_client)
    return event


def _move_in_outlook(api_client, graph, event_id: str, start: dt.datetime) -> dict:
    """The assistant drags the event in Outlook; the next sync takes it into WedSync. Returns that sync's job."""
    graph.update_event(MAILBOX, _outlook_id(api_client, event_id), graph_when(start, start + dt.timedelta(hours=1)))
    job = run_sync(api_client)
    assert _ws_start(api_client, event_id) == start
    return job


def _ws_start(api_client, event_id: str) -> dt.datetime:
    return dt.datetime.fromisoformat(api_client.get(f"/api/events/{event_id}/").json()["startsAt"])


def test_undo_of_an_outlook_move_puts_both_sides_back_and_can_itself_be_undone(api_client, graph, ceremony):
    event_id = ceremony["id"]
    outlook_id = _outlook_id(api_client, event_id)
    original, moved = at(5, 15), at(6, 9)
    job = _move_in_outlook(api_client, graph, event_id, moved)
    assert _ws_start(api_client, event_id) == moved

    journaled = _changes(api_client, job["syncId"])
    change = next(c for c in journaled if c["side"] == "wedsync" and c["kind"] == "updated" and c["eventId"] == event_id)
    assert set(change["fields"]) == {"when"} and change["fields"]["when"]["old"]["start"].startswith(original.strftime("%Y-%m-%dT%H:%M"))
    assert "token" not in str(journaled).lower() and outlook_id not in str(journaled)  # never tokens or provider ids

    answer = api_client.post(f"{BASE}/sync/{job['syncId']}/undo")
    assert answer.status_code == 202, answer.content
    body = answer.json()
    assert body["success"] is True and body["changes"][0]["refused"] == []
    assert any("time goes back to" in line for line in body["changes"][0]["willChange"]["wedsync"])
    undo_job = _wait_job(api_client, body["syncId"])
    assert undo_job["status"] == "completed", undo_job
    assert _ws_start(api_client, event_id) == original
    assert _starts(graph, outlook_id) == original.strftime("%Y-%m-%dT%H:%M")  # same copy, moved back
    assert len(_ours(graph)) == 1

    # The undo is journaled on both sides and the changes it took back say so.
    undo_changes = _changes(api_client, body["syncId"])
    assert {(c["side"], c["kind"]) for c in undo_changes} == {("wedsync", "updated"), ("outlook", "updated")}
    assert next(c for c in _changes(api_client, job["syncId"]) if c["changeId"] == change["changeId"])["undoneBy"] == body["syncId"]
    again = api_client.post(f"{BASE}/sync/{job['syncId']}/undo")
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_undone"
    one = api_client.post(f"{BASE}/events/{event_id}/undo", {"changeId": change["changeId"]})
    assert one.status_code == 409 and one.json()["error"]["code"] == "already_undone"

    # Undo of the undo: the move comes back on both sides.
    redo = api_client.post(f"{BASE}/sync/{body['syncId']}/undo")
    assert redo.status_code == 202, redo.content
    assert _wait_job(api_client, redo.json()["syncId"])["status"] == "completed"
    assert _ws_start(api_client, event_id) == moved
    assert _starts(graph, outlook_id) == moved.strftime("%Y-%m-%dT%H:%M")


def test_undo_of_a_wedsync_delete_caused_by_an_outlook_delete_revives_and_recreates_one_copy(api_client, graph, ceremony):
    event_id = ceremony["id"]
    graph.delete_event(MAILBOX, _outlook_id(api_client, event_id))
    job = run_sync(api_client)
    assert api_client.get(f"/api/events/{event_id}/").json()["isDeleted"] is True  # WedSync keeps a tombstone
    change = next(c for c in _changes(api_client, job["syncId"]) if c["kind"] == "deleted" and c["side"] == "wedsync")
    assert change["fields"]["title"] == {"old": "Ceremony: Priya & Sam", "new": None}

    answer = api_client.post(f"{BASE}/events/{event_id}/undo", {"changeId": change["changeId"]})
    assert answer.status_code == 202, answer.content
    assert _wait_job(api_client, answer.json()["syncId"])["status"] == "completed"
    revived = api_client.get(f"/api/events/{event_id}/")
    assert revived.json()["isDeleted"] is False and revived.json()["title"] == "Ceremony: Priya & Sam"
    copies = _ours(graph)
    assert [c["subject"] for c in copies] == ["WedSync: Ceremony: Priya & Sam"]  # one copy
    assert copies[0]["start"]["dateTime"][:16] == at(5, 15).strftime("%Y-%m-%dT%H:%M") and copies[0]["location"]["displayName"] == "The Old Barn"
    mapped = [e for e in _mapped(api_client) if e["wedSyncEventId"] == event_id]
    assert len(mapped) == 1 and mapped[0]["outlookEventId"] == copies[0]["id"] and mapped[0]["syncStatus"] == "synced"
    # A later sync leaves it alone (no second copy, no delete).
    run_sync(api_client, sync_type="full_sync")
    assert len(_ours(graph)) == 1 and api_client.get(f"/api/events/{event_id}/").json()["isDeleted"] is False


def test_undo_of_a_settings_change_run_puts_all_20_events_back_in_one_run(api_client, graph, supplier):
    events = [_create_event(api_client, title=f"Ceremony {n:02d}", startsAt=at(3 + n, 10).isoformat(), endsAt=at(3 + n, 11).isoformat()) for n in range(20)]
    connect(api_client, graph)
    wait_for_idle(api_client)
    assert len(_ours(graph)) == 20

    put = api_client.put(f"{BASE}/settings", {"syncPreferences": {"eventPrefix": "WS: "}})
    assert put.status_code == 200 and put.json()["requiresFullResync"] is True
    history = wait_for_idle(api_client)
    settings_run = next(r for r in history if r["reason"] == "settings_change")
    assert sorted(e["subject"] for e in _ours(graph)) == sorted(f"WS: {e['title']}" for e in events)
    rewritten = [c for c in _changes(api_client, settings_run["id"]) if c["side"] == "outlook"]
    assert len(rewritten) == 20 and all(c["fields"]["subject"]["new"].startswith("WS: ") for c in rewritten)

    runs_before = OutlookSyncHistory.objects.count()
    answer = api_client.post(f"{BASE}/sync/{settings_run['id']}/undo")
    assert answer.status_code == 202, answer.content
    undo_job = _wait_job(api_client, answer.json()["syncId"])
    assert undo_job["status"] == "completed", undo_job
    assert OutlookSyncHistory.objects.count() == runs_before + 1  # one run
    assert sorted(e["subject"] for e in _ours(graph)) == sorted(f"WedSync: {e['title']}" for e in events)
    assert api_client.get(f"{BASE}/sync").json()["integration"]["syncPreferences"]["eventPrefix"] == "WedSync: "
    assert len([c for c in _changes(api_client, undo_job["syncId"]) if c["side"] == "outlook" and c["kind"] == "updated"]) == 20


def test_undo_refuses_a_field_edited_since_and_overwrites_nothing(api_client, graph, ceremony):
    event_id = ceremony["id"]
    outlook_id = _outlook_id(api_client, event_id)
    job = _move_in_outlook(api_client, graph, event_id, at(6, 9))
    later = at(7, 11)
    assert api_client.patch(f"/api/events/{event_id}/", {"startsAt": later.isoformat(), "endsAt": (later + dt.timedelta(hours=1)).isoformat()}).status_code == 200
    wait_for(lambda: _starts(graph, outlook_id) == later.strftime("%Y-%m-%dT%H:%M"), message="the newer edit reaching Outlook")
    wait_for_idle(api_client)

    change = next(c for c in _changes(api_client, job["syncId"]) if c["side"] == "wedsync")
    answer = api_client.post(f"{BASE}/events/{event_id}/undo", {"changeId": change["changeId"]})
    assert answer.status_code == 202, answer.content
    refused = answer.json()["changes"][0]["refused"]
    assert refused == [{"field": "when", "reason": "It was changed again in WedSync after this sync, so undo leaves the newer edit alone."}]
    undo_job = _wait_job(api_client, answer.json()["syncId"])
    assert [e["errorCode"] for e in undo_job["errors"]] == ["undo_refused"]
    assert _ws_start(api_client, event_id) == later
    assert _starts(graph, outlook_id) == later.strftime("%Y-%m-%dT%H:%M")


def test_undo_while_a_run_is_in_progress_queues_behind_it(api_client, graph, ceremony):
    event_id = ceremony["id"]
    job = _move_in_outlook(api_client, graph, event_id, at(6, 9))
    # Outlook holds the next run's reads for a while: it is in progress when the undo is asked for.
    graph.inject_fault("GET", r"/delta", latency_ms=3000, count=1)
    started = api_client.post(f"{BASE}/sync", {"syncType": "incremental"})
    wait_for(lambda: api_client.get(f"{BASE}/sync/{started.json()['syncId']}").json()["status"] == "in_progress", message="the run to begin")
    answer = api_client.post(f"{BASE}/sync/{job['syncId']}/undo")
    assert answer.status_code == 202 and answer.json()["status"] == "queued"
    assert _wait_job(api_client, answer.json()["syncId"])["status"] == "completed"
    first = OutlookSyncHistory.objects.get(pk=started.json()["syncId"])
    undo_run = OutlookSyncHistory.objects.get(pk=answer.json()["syncId"])
    assert undo_run.began_at >= first.completed_at
    assert _ws_start(api_client, event_id) == at(5, 15)


def test_unknown_and_other_suppliers_ids_are_404_and_bad_input_400(api_client, graph, ceremony, other_supplier):
    job = _move_in_outlook(api_client, graph, ceremony["id"], at(6, 9))
    mine = _changes(api_client, job["syncId"])[0]
    # Another supplier's integration, run and change (set up directly: their own connection is not under test here).
    theirs = OutlookCalendarIntegration(user=other_supplier, tenant_id="t", microsoft_user_id="other", token_expires_at=timezone.now(), calendar_id="c")
    theirs.set_tokens(access_token="a", refresh_token="r", expires_at=timezone.now())
    theirs.save()
    their_run = OutlookSyncHistory.objects.create(integration=theirs, sync_type="incremental", sync_direction="bidirectional", sync_status="completed")
    their_change = OutlookSyncChange.objects.create(run=their_run, integration=theirs, wedsync_event_id=ceremony["id"], side="wedsync", kind="updated",
                                                    fields={"title": {"old": "a", "new": "b"}})
    for response in (
        api_client.post(f"{BASE}/sync/{their_run.pk}/undo"),
        api_client.get(f"{BASE}/sync/{their_run.pk}/changes"),
        api_client.post(f"{BASE}/events/{ceremony['id']}/undo", {"changeId": str(their_change.pk)}),
        api_client.post(f"{BASE}/sync/not-a-run/undo"),
        api_client.post(f"{BASE}/events/not-an-event/undo", {"changeId": mine["changeId"]}),
    ):
        assert response.status_code == 404, response.content
        assert response.json()["success"] is False and response.json()["error"]["code"] in ("sync_not_found", "change_not_found")
    bad = api_client.post(f"{BASE}/events/{ceremony['id']}/undo", {"changeId": "nope"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "validation_error" and set(bad.json()["error"]["details"]) == {"changeId"}
    unknown_key = api_client.post(f"{BASE}/events/{ceremony['id']}/undo", {"changeId": mine["changeId"], "extra": 1})
    assert unknown_key.status_code == 400 and set(unknown_key.json()["error"]["details"]) == {"extra"}
    assert not OutlookSyncHistory.objects.filter(mode="undo").exists()  # nothing was started
    assert OutlookSyncChange.objects.get(pk=their_change.pk).undone_by is None


def test_undo_of_settings_changes_that_switched_a_type_on_and_off_takes_the_copies_out_and_back(api_client, graph, supplier):
    _create_event(api_client, title="Ceremony")
    deadline = _create_event(api_client, eventType="deadline", title="Send the album", startsAt=at(8, 9).isoformat(), endsAt=at(8, 10).isoformat())
    connect(api_client, graph)
    wait_for_idle(api_client)
    assert sorted(e["subject"] for e in _ours(graph)) == ["WedSync: Ceremony", "WedSync: Send the album"]

    def switch(on: bool) -> str:
        put = api_client.put(f"{BASE}/settings", {"syncPreferences": {"syncDeadlines": on}})
        assert put.status_code == 200 and put.json()["requiresFullResync"] is True
        return next(r for r in wait_for_idle(api_client) if r["reason"] == "settings_change")["id"]

    switched_off = switch(False)
    assert [e["subject"] for e in _ours(graph)] == ["WedSync: Ceremony"]
    switched_on = switch(True)
    assert sorted(e["subject"] for e in _ours(graph)) == ["WedSync: Ceremony", "WedSync: Send the album"]
    assert [(c["side"], c["kind"], c["eventId"]) for c in _changes(api_client, switched_on) if c["eventId"]] == [("outlook", "created", deadline["id"])]

    # Undoing the switch-on: deadlines are off again and the copy it added leaves Outlook (not refused as a "first copy").
    answer = api_client.post(f"{BASE}/sync/{switched_on}/undo")
    assert answer.status_code == 202, answer.content
    assert all(c["refused"] == [] for c in answer.json()["changes"])
    undo_job = _wait_job(api_client, answer.json()["syncId"])
    assert undo_job["status"] == "completed" and not undo_job.get("errors"), undo_job
    assert [e["subject"] for e in _ours(graph)] == ["WedSync: Ceremony"]
    assert api_client.get(f"{BASE}/sync").json()["integration"]["syncPreferences"]["syncDeadlines"] is False
    assert api_client.get(f"/api/events/{deadline['id']}/").json()["isDeleted"] is False  # WedSync keeps it

    # Undoing the switch-off: deadlines are on again and the copy comes back (one copy).
    answer = api_client.post(f"{BASE}/sync/{switched_off}/undo")
    assert answer.status_code == 202, answer.content
    undo_job = _wait_job(api_client, answer.json()["syncId"])
    assert undo_job["status"] == "completed" and not undo_job.get("errors"), undo_job
    assert sorted(e["subject"] for e in _ours(graph)) == ["WedSync: Ceremony", "WedSync: Send the album"]
    assert api_client.get(f"{BASE}/sync").json()["integration"]["syncPreferences"]["syncDeadlines"] is True
    assert [e["syncStatus"] for e in _mapped(api_client) if e["wedSyncEventId"] == deadline["id"]] == ["synced"]


def test_undo_of_a_calendar_and_direction_change_puts_both_back_and_the_copies_in_the_old_calendar(api_client, graph, supplier):
    """Issue 18: undoing a settings run that switched the synced calendar and the direction puts both back; the
    copies leave the new calendar and are in the old one again (one each, mapped); undoing that undo switches again."""
    events = [_create_event(api_client, title=f"Ceremony {n}", startsAt=at(3 + n, 10).isoformat(), endsAt=at(3 + n, 11).isoformat()) for n in range(3)]
    connect(api_client, graph)
    wait_for_idle(api_client)
    first = api_client.get(f"{BASE}/sync").json()["integration"]
    weddings = graph.create_calendar(MAILBOX, "Weddings")

    def subjects(calendar_id: str) -> list[str]:
        return sorted(e["subject"] for e in graph.events(MAILBOX, calendar_id=calendar_id))

    expected = sorted(f"WedSync: {e['title']}" for e in events)
    assert subjects(first["calendarId"]) == expected

    put = api_client.put(f"{BASE}/settings", {"calendarId": weddings["id"], "syncDirection": "to_outlook"})
    assert put.status_code == 200 and put.json()["requiresFullResync"] is True
    settings_run = next(r for r in wait_for_idle(api_client) if r["reason"] == "settings_change")
    assert subjects(weddings["id"]) == expected and subjects(first["calendarId"]) == []

    answer = api_client.post(f"{BASE}/sync/{settings_run['id']}/undo")
    assert answer.status_code == 202, answer.content
    assert all(c["refused"] == [] for c in answer.json()["changes"]), answer.json()
    undo_job = _wait_job(api_client, answer.json()["syncId"])
    assert undo_job["status"] == "completed" and not undo_job.get("errors"), undo_job
    now = api_client.get(f"{BASE}/sync").json()["integration"]
    assert (now["calendarId"], now["calendarName"], now["syncDirection"]) == (first["calendarId"], first["calendarName"], "bidirectional")
    assert subjects(first["calendarId"]) == expected and subjects(weddings["id"]) == []
    mapped = _mapped(api_client)
    assert sorted(e["wedSyncEventId"] for e in mapped) == sorted(e["id"] for e in events)
    assert {e["syncStatus"] for e in mapped} == {"synced"}

    # The undo is journaled like the settings change, so it can be undone too: Weddings and one-way again.
    again = api_client.post(f"{BASE}/sync/{undo_job['syncId']}/undo")
    assert again.status_code == 202, again.content
    redo_job = _wait_job(api_client, again.json()["syncId"])
    assert redo_job["status"] == "completed" and not redo_job.get("errors"), redo_job
    now = api_client.get(f"{BASE}/sync").json()["integration"]
    assert (now["calendarId"], now["syncDirection"]) == (weddings["id"], "to_outlook")
    assert subjects(weddings["id"]) == expected and subjects(first["calendarId"]) == []
