"""The contract suite: the spec's JSON contract, checked through the HTTP API with a real worker and the emulator.

``conforms(body, "Interface")`` checks a response against the spec's TypeScript
interface (``spec_interfaces.ts``, via ``tsschema``), allowing only WedSync's
additions documented here and in the OpenAPI schema.
"""
from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from tests.conftest import MAILBOX
from tests.contract import tsschema
from tests.integration.outlook_helpers import BASE, connect, wait_for_idle

#: WedSync's documented additions to the spec's interfaces (see the OpenAPI schema's descriptions).
ADDITIONS = tsschema.Additions(
    keys={
        "OutlookIntegration": {"needsReauthorization", "accountEmail", "throttledUntil", "connectionState", "disconnect", "needsSetup"},
        "RemoveIntegrationResponse": {"disconnectState", "disconnectId", "eventsToRemove", "eventsKept"},
        "OutlookSyncPreferences": {"inviteAttendeesFor"},
        "OutlookSyncHistoryItem": {"reason", "beganAt", "retryAt"},
        "OutlookSyncJobResponse": {"beganAt", "syncType", "triggeredBy", "reason", "syncDurationMs", "retryAt"},
        "OutlookMappedEvent": {"isAllDay"},
        "OutlookEventsResponse.filters": {"applied", "available"},
    },
    enum_values={
        "OutlookSyncJobResponse.status": {"queued"},
        "OutlookSyncStatusResponse.recentSyncHistory[].syncStatus": {"queued"},
    },
    nullable={
        "OutlookSyncStatusResponse.syncStats.lastFullSync",
        "OutlookSyncStatusResponse.syncStats.nextScheduledSync",
    },
)
#: ``triggeredBy`` is typed ``string`` in the interface; the spec's table lists its values.
TRIGGERS = {"manual", "webhook", "scheduled", "auto"}


def conforms(body, interface: str) -> dict:
    problems = tsschema.check(body, interface, ADDITIONS)
    assert not problems, f"{interface} does not match the spec:\n  " + "\n  ".join(problems)
    return body


def error_shape(response, status: int, code: str | None = None) -> dict:
    """The one error shape, with ``details`` (if any) an object of field -> list of messages."""
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"success", "error"} and body["success"] is False, body
    error = body["error"]
    assert set(error) <= {"code", "message", "details", "ids"} and isinstance(error["code"], str) and isinstance(error["message"], str), error
    assert error["message"].strip(), error
    if "details" in error:
        assert isinstance(error["details"], dict) and error["details"], error
        for field, messages in error["details"].items():
            assert isinstance(field, str) and isinstance(messages, list) and messages and all(isinstance(m, str) and m for m in messages), error
    if "ids" in error:
        assert isinstance(error["ids"], list) and all(isinstance(i, str) for i in error["ids"]), error
    if code is not None:
        assert error["code"] == code, error
    return error


def at(days: int, hour: int, minute: int = 0) -> dt.datetime:
    day = (timezone.now() + dt.timedelta(days=days)).date()
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=dt.timezone.utc)


def graph_when(start: dt.datetime, end: dt.datetime) -> dict:
    fmt = "%Y-%m-%dT%H:%M:%S.0000000"
    return {"start": {"dateTime": start.strftime(fmt), "timeZone": "UTC"}, "end": {"dateTime": end.strftime(fmt), "timeZone": "UTC"}}


def create_event(api_client, title: str, *, days: int = 3, hour: int = 10, event_type: str = "client_meeting", **extra) -> dict:
    body = {"eventType": event_type, "title": title, "location": "The Old Barn", "startsAt": at(days, hour).isoformat(),
            "endsAt": at(days, hour + 1).isoformat(), "timeZone": "Europe/London", "attendees": []} | extra
    response = api_client.post("/api/events/", body)
    assert response.status_code == 201, response.content
    return response.json()


def mapped(api_client, event_id: str) -> dict:
    events = api_client.get(f"{BASE}/events", {"pageSize": 200}).json()["events"]
    return next(e for e in events if e["wedSyncEventId"] == event_id)


@pytest.fixture(autouse=True)
def _settle(api_client, graph):  # after ``graph``: torn down while the settings still point at the emulator
    """Let the worker finish this test's runs before the next test empties the database."""
    yield
    graph.set_config(service_time_ms=0)
    if api_client.get(f"{BASE}/sync").status_code == 200:
        wait_for_idle(api_client, timeout=120)


@pytest.fixture
def connected(api_client, graph, supplier):
    """Four WedSync events (one all-day deadline) and one private Outlook event, connected and fully synced."""
    events = [
        create_event(api_client, "Consultation with Priya & Sam", days=3, hour=14),
        create_event(api_client, "Venue visit: The Old Barn", days=4, hour=10, event_type="venue_visit"),
        create_event(api_client, "Ceremony: Priya & Sam", days=6, hour=15, event_type="wedding_ceremony"),
        create_event(api_client, "Final numbers to caterer", days=5, hour=0, event_type="deadline", isAllDay=True,
                     startsAt=at(5, 0).isoformat(), endsAt=at(6, 0).isoformat(), timeZone="UTC"),
    ]
    graph.create_event(MAILBOX, {"subject": "Dentist", **graph_when(at(3, 8), at(3, 9)), "showAs": "busy"})
    callback = connect(api_client, graph)
    wait_for_idle(api_client)
    return {"events": events, "callback": callback}
