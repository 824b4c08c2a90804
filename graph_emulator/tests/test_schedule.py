"""getSchedule: free/busy for up to 20 mailboxes over a window under 42 days."""
from __future__ import annotations

from .conftest import event_payload


def test_get_schedule(alice, control):
    _, graph = alice
    control.create_user("bob@contoso.com", "Bob")
    control.create_event("bob@contoso.com", event_payload(subject="Busy thing", start="2026-06-20T09:00:00", end="2026-06-20T10:00:00", showAs="busy"))
    control.create_event("bob@contoso.com", event_payload(subject="Maybe", start="2026-06-20T11:00:00", end="2026-06-20T11:30:00", showAs="tentative"))
    control.create_event("bob@contoso.com", event_payload(subject="Free", start="2026-06-20T12:00:00", end="2026-06-20T13:00:00", showAs="free"))
    body = {"schedules": ["bob@contoso.com", "nobody@contoso.com"], "startTime": {"dateTime": "2026-06-20T08:00:00", "timeZone": "UTC"},
            "endTime": {"dateTime": "2026-06-20T14:00:00", "timeZone": "UTC"}, "availabilityViewInterval": 60}
    response = graph.post("/me/calendar/getSchedule", json=body, headers={"Prefer": 'outlook.timezone="UTC"'})
    assert response.status_code == 200, response.text
    bob, nobody = response.json()["value"]
    assert bob["scheduleId"] == "bob@contoso.com"
    assert bob["availabilityView"] == "020100"
    assert [(i["status"], i["subject"]) for i in bob["scheduleItems"]] == [("busy", "Busy thing"), ("tentative", "Maybe")]
    assert bob["scheduleItems"][0]["start"] == {"dateTime": "2026-06-20T09:00:00.0000000", "timeZone": "UTC"}
    assert "error" in nobody

    too_many = dict(body, schedules=[f"u{i}@contoso.com" for i in range(21)])
    assert graph.post("/me/calendar/getSchedule", json=too_many).status_code == 400
    too_long = dict(body, endTime={"dateTime": "2026-08-01T08:00:00", "timeZone": "UTC"})
    assert graph.post("/me/calendar/getSchedule", json=too_long).status_code == 400
