"""Integration-level options through the API, a real worker and the emulator: travel-time blocks and the
one-way directions (``syncDirection`` ``to_outlook`` / ``from_outlook``)."""
from __future__ import annotations

import datetime as dt

import pytest

from outlook_sync.sync.mapping import TRAVEL_CATEGORY
from tests.conftest import MAILBOX, TASKS, settle, wait_for
from tests.integration.outlook_helpers import BASE, at, connect, run_sync, wait_for_idle
from tests.integration.test_outlook_sync import _create_event, _outlook_event_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


def _instant(graph_time: dict) -> dt.datetime:
    assert graph_time["timeZone"] == "UTC", graph_time
    return dt.datetime.fromisoformat(graph_time["dateTime"][:19]).replace(tzinfo=dt.timezone.utc)


def _travel_blocks(graph) -> list[dict]:
    return [e for e in graph.events(MAILBOX) if TRAVEL_CATEGORY in (e.get("categories") or [])]


@pytest.fixture(autouse=True)
def _settle(api_client, graph):
    yield
    settle(graph)
    if api_client.get(f"{BASE}/sync").status_code == 200:
        wait_for_idle(api_client)


@pytest.fixture
def connected(api_client, graph):
    event = _create_event(api_client, eventType="venue_visit", title="Walk-through at The Old Barn", timeZone="UTC", attendees=[],
                          startsAt=at(5, 14).isoformat(), endsAt=at(5, 15).isoformat())
    connect(api_client, graph)
    wait_for_idle(api_client)
    settle(graph)
    return event


def _settings(api_client, body: dict) -> dict:
    response = api_client.put(f"{BASE}/settings", body)
    assert response.status_code == 200, response.content
    settle()
    wait_for_idle(api_client)
    return response.json()


# --- travel time ---
def test_travel_blocks_follow_their_event_are_owned_by_wedsync_and_go_when_turned_off(api_client, graph, connected):
    assert _travel_blocks(graph) == []  # off by default
    _settings(api_client, {"syncPreferences": {"syncTravelTime": True}})
    event = _create_event(api_client, eventType="client_meeting", title="Tasting at Café Rouge", timeZone="UTC", attendees=[], travelMinutes=45,
                          startsAt=at(6, 14).isoformat(), endsAt=at(6, 15).isoformat())
    settle(graph)

    [block] = wait_for(lambda: _travel_blocks(graph) or None, message="the travel block")
    assert block["subject"] == "WedSync: Travel to Tasting at Café Rouge"
    assert (_instant(block["start"]), _instant(block["end"])) == (at(6, 13, 15), at(6, 14))
    assert block["showAs"] == "busy" and block["isReminderOn"] is False
    assert not [e for e in _travel_blocks(graph) if e["subject"].endswith("Walk-through at The Old Barn")]  # no travelMinutes, no block

    # The event moves: its block moves with it (still one block).
    assert api_client.patch(f"/api/events/{event['id']}/", {"startsAt": at(6, 16).isoformat(), "endsAt": at(6, 17).isoformat()}).status_code == 200
    settle(graph)
    wait_for(lambda: [(_instant(b["start"]), _instant(b["end"])) for b in _travel_blocks(graph)] == [(at(6, 15, 15), at(6, 16))], message="the block to move")

    # Turned off: the block goes, the event stays.
    _settings(api_client, {"syncPreferences": {"syncTravelTime": False}})
    settle(graph)
    wait_for(lambda: _travel_blocks(graph) == [], timeout=60, message="the block to be removed")
    assert any(e["subject"] == "WedSync: Tasting at Café Rouge" for e in graph.events(MAILBOX))


# --- one-way directions ---
def test_to_outlook_makes_wedsync_the_master(api_client, graph, connected):
    event = connected
    outlook_id = _outlook_event_of(api_client, event["id"])
    _settings(api_client, {"syncDirection": "to_outlook"})

    graph.update_event(MAILBOX, outlook_id, {"location": {"displayName": "Changed in Outlook"}})
    assert run_sync(api_client)["status"] == "completed"
    settle(graph)

    assert api_client.get(f"/api/events/{event['id']}/").json()["location"] == "The Old Barn"  # not taken from Outlook
    assert graph.event(MAILBOX, outlook_id)["location"]["displayName"] == "The Old Barn"  # Outlook's edit overwritten
    assert api_client.get(f"{BASE}/events").json()["events"][0]["syncStatus"] != "conflict"

    # WedSync edits still go out.
    assert api_client.patch(f"/api/events/{event['id']}/", {"title": "Walk-through (moved)"}).status_code == 200
    settle(graph)
    assert graph.event(MAILBOX, outlook_id)["subject"] == "WedSync: Walk-through (moved)"


def test_from_outlook_makes_outlook_the_master_and_pushes_nothing(api_client, graph, connected):
    event = connected
    outlook_id = _outlook_event_of(api_client, event["id"])
    _settings(api_client, {"syncDirection": "from_outlook"})
    outlook_before = graph.event(MAILBOX, outlook_id)

    mark = TASKS.mark()
    assert api_client.patch(f"/api/events/{event['id']}/", {"location": "Changed in WedSync"}).status_code == 200
    settle(graph)
    assert TASKS.sent_since(mark) == []  # no push was even scheduled
    assert graph.event(MAILBOX, outlook_id)["changeKey"] == outlook_before["changeKey"]

    graph.update_event(MAILBOX, outlook_id, {"location": {"displayName": "Changed in Outlook"}})
    assert run_sync(api_client)["status"] == "completed"
    settle(graph)
    assert api_client.get(f"/api/events/{event['id']}/").json()["location"] == "Changed in Outlook"
    assert graph.event(MAILBOX, outlook_id)["location"]["displayName"] == "Changed in Outlook"


def test_an_outlook_edit_to_a_travel_block_is_put_back(api_client, graph, connected):
    _settings(api_client, {"syncPreferences": {"syncTravelTime": True}})
    event = _create_event(api_client, eventType="client_meeting", title="Tasting at Café Rouge", timeZone="UTC", attendees=[], travelMinutes=45,
                          startsAt=at(6, 14).isoformat(), endsAt=at(6, 15).isoformat())
    settle(graph)
    [block] = wait_for(lambda: _travel_blocks(graph) or None, message="the travel block")

    graph.update_event(MAILBOX, block["id"], {"subject": "My own title"})
    assert run_sync(api_client)["status"] == "completed"
    assert run_sync(api_client, sync_type="full_sync")["status"] == "completed"
    settle(graph)

    assert api_client.get(f"/api/events/{event['id']}/").json()["title"] == "Tasting at Café Rouge"  # the event is untouched
    assert [b["subject"] for b in _travel_blocks(graph)] == ["WedSync: Travel to Tasting at Café Rouge"]
