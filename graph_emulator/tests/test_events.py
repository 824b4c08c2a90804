"""Calendars and events: CRUD, etags, transactionId, extended properties, time zones, all-day, calendarView, paging."""
from __future__ import annotations

import re

from .conftest import event_payload

PROP = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name WedSyncEventId"
SEVEN_DIGITS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}$")


def test_me_and_calendars(alice, control):
    user, graph = alice
    me = graph.get("/me").json()
    assert me["id"] == user["id"] and me["mail"] == "alice@contoso.com" and me["displayName"] == "Alice Adams"
    assert me["userPrincipalName"] == "alice@contoso.com"
    calendars = graph.get("/me/calendars").json()["value"]
    assert [c["name"] for c in calendars] == ["Calendar"]
    default = calendars[0]
    assert default["isDefaultCalendar"] is True and default["canEdit"] is True
    assert default["owner"] == {"name": "Alice Adams", "address": "alice@contoso.com"}
    created = graph.post("/me/calendars", json={"name": "Weddings"})
    assert created.status_code == 201
    body = created.json()
    assert body["name"] == "Weddings" and body["isDefaultCalendar"] is False and body["color"] == "auto"
    assert graph.post("/me/calendars", json={"name": "Weddings"}).status_code == 409
    selected = graph.get("/me/calendars", params={"$select": "id,name,isDefaultCalendar"}).json()["value"]
    assert {c["name"] for c in selected} == {"Calendar", "Weddings"} and set(selected[0]) == {"id", "name", "isDefaultCalendar"}
    assert graph.get("/me/calendar").json()["id"] == default["id"]
    assert {c["name"] for c in control.calendars("alice@contoso.com")} == {"Calendar", "Weddings"}


def test_event_crud_and_etag_rotation(alice, control):
    user, graph = alice
    cal = graph.post("/me/calendars", json={"name": "Weddings"}).json()
    payload = event_payload(body={"contentType": "text", "content": "Bring the menu"}, location={"displayName": "Barn"},
                            attendees=[{"emailAddress": {"address": "sam@example.com", "name": "Sam"}, "type": "required"}],
                            categories=["Wedding"], showAs="busy", reminderMinutesBeforeStart=30, isReminderOn=True)
    created = graph.post(f"/me/calendars/{cal['id']}/events", json=payload)
    assert created.status_code == 201, created.text
    event = created.json()
    assert len(event["id"]) > 100 and event["@odata.etag"] == f'W/"{event["changeKey"]}"'
    assert event["subject"] == "Tasting" and event["body"] == {"contentType": "text", "content": "Bring the menu"}
    assert event["bodyPreview"] == "Bring the menu" and event["location"]["displayName"] == "Barn"
    assert event["attendees"][0]["emailAddress"] == {"name": "Sam", "address": "sam@example.com"}
    assert event["attendees"][0]["type"] == "required" and event["attendees"][0]["status"]["response"] == "none"
    assert event["organizer"]["emailAddress"]["address"] == "alice@contoso.com"
    assert event["type"] == "singleInstance" and event["isCancelled"] is False and event["isAllDay"] is False
    assert event["start"] == {"dateTime": "2026-06-20T16:00:00.0000000", "timeZone": "UTC"}
    assert event["reminderMinutesBeforeStart"] == 30 and event["categories"] == ["Wedding"]
    assert control.invitations()[0]["to"] == "sam@example.com"

    got = graph.get(f"/me/events/{event['id']}").json()
    assert got["changeKey"] == event["changeKey"]
    assert graph.get(f"/me/calendars/{cal['id']}/events/{event['id']}").status_code == 200

    patched = graph.patch(f"/me/events/{event['id']}", json={"subject": "Menu tasting"}, headers={"If-Match": event["@odata.etag"]})
    assert patched.status_code == 200
    assert patched.json()["subject"] == "Menu tasting" and patched.json()["changeKey"] != event["changeKey"]
    assert patched.json()["lastModifiedDateTime"] >= event["lastModifiedDateTime"]

    # The person edits it in Outlook: the etag rotates again.
    edited = control.update_event("alice@contoso.com", event["id"], {"location": {"displayName": "Hall"}})
    assert edited["changeKey"] != patched.json()["changeKey"]

    listed = graph.get(f"/me/calendars/{cal['id']}/events").json()["value"]
    assert [e["id"] for e in listed] == [event["id"]]
    assert graph.get("/me/events").json()["value"] == []  # /me/events is the default calendar

    assert graph.delete(f"/me/events/{event['id']}").status_code == 204
    missing = graph.get(f"/me/events/{event['id']}")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "ErrorItemNotFound"
    assert set(missing.json()["error"]["innerError"]) >= {"request-id", "date", "client-request-id"}
    assert graph.delete(f"/me/events/{event['id']}").status_code == 404
    assert graph.patch(f"/me/events/{event['id']}", json={"subject": "x"}).status_code == 404


def test_stale_if_match_gives_412(alice):
    _, graph = alice
    event = graph.post("/me/events", json=event_payload()).json()
    graph.patch(f"/me/events/{event['id']}", json={"subject": "Changed"})
    stale = graph.patch(f"/me/events/{event['id']}", json={"subject": "Mine"}, headers={"If-Match": event["@odata.etag"]})
    assert stale.status_code == 412 and stale.json()["error"]["code"] == "ErrorIrresolvableConflict"
    stale_delete = graph.delete(f"/me/events/{event['id']}", headers={"If-Match": event["@odata.etag"]})
    assert stale_delete.status_code == 412
    assert graph.get(f"/me/events/{event['id']}").json()["subject"] == "Changed"


def test_transaction_id_makes_create_idempotent(alice, control):
    _, graph = alice
    payload = event_payload(transactionId="wedsync-123")
    first = graph.post("/me/events", json=payload)
    second = graph.post("/me/events", json=payload)
    assert first.status_code == 201 and second.status_code == 201
    assert first.json()["id"] == second.json()["id"] and first.json()["transactionId"] == "wedsync-123"
    assert len(control.events("alice@contoso.com")) == 1
    other = graph.post("/me/events", json=event_payload(transactionId="wedsync-124"))
    assert other.json()["id"] != first.json()["id"]


def test_extended_properties_store_expand_and_filter(alice):
    _, graph = alice
    tagged = graph.post("/me/events", json=event_payload(singleValueExtendedProperties=[{"id": PROP, "value": "ws-1"}])).json()
    graph.post("/me/events", json=event_payload(subject="Untagged"))
    assert "singleValueExtendedProperties" not in tagged
    plain = graph.get(f"/me/events/{tagged['id']}").json()
    assert "singleValueExtendedProperties" not in plain
    expanded = graph.get(f"/me/events/{tagged['id']}", params={"$expand": f"singleValueExtendedProperties($filter=id eq '{PROP.lower()}')"}).json()
    assert expanded["singleValueExtendedProperties"] == [{"id": PROP, "value": "ws-1"}]
    by_value = graph.get("/me/events", params={"$filter": f"singleValueExtendedProperties/Any(ep: ep/id eq '{PROP}' and ep/value eq 'ws-1')"}).json()
    assert [e["id"] for e in by_value["value"]] == [tagged["id"]]
    not_null = graph.get("/me/events", params={"$filter": f"singleValueExtendedProperties/Any(ep: ep/id eq '{PROP}' and ep/value ne null)",
                                                "$select": "id", "$top": "100"}).json()
    assert [e["id"] for e in not_null["value"]] == [tagged["id"]]
    assert set(not_null["value"][0]) == {"id", "@odata.etag"}
    none = graph.get("/me/events", params={"$filter": f"singleValueExtendedProperties/Any(ep: ep/id eq '{PROP}' and ep/value eq 'ws-2')"}).json()
    assert none["value"] == []
    graph.patch(f"/me/events/{tagged['id']}", json={"singleValueExtendedProperties": [{"id": PROP, "value": "ws-2"}]})
    expanded = graph.get(f"/me/events/{tagged['id']}", params={"$expand": f"singleValueExtendedProperties($filter=id eq '{PROP}')"}).json()
    assert expanded["singleValueExtendedProperties"] == [{"id": PROP, "value": "ws-2"}]
    view = graph.get("/me/calendarView", params={"startDateTime": "2026-06-20T00:00:00Z", "endDateTime": "2026-06-21T00:00:00Z",
                                                  "$filter": f"singleValueExtendedProperties/Any(ep: ep/id eq '{PROP}' and ep/value ne null)"}).json()
    assert [e["id"] for e in view["value"]] == [tagged["id"]]


def test_windows_zone_in_and_prefer_timezone_out(alice):
    _, graph = alice
    event = graph.post("/me/events", json=event_payload(start="2026-06-20T09:00:00", end="2026-06-20T10:30:00", zone="Pacific Standard Time")).json()
    assert event["start"] == {"dateTime": "2026-06-20T16:00:00.0000000", "timeZone": "UTC"}  # no Prefer: UTC
    assert event["originalStartTimeZone"] == "Pacific Standard Time"
    london = graph.get(f"/me/events/{event['id']}", headers={"Prefer": 'outlook.timezone="GMT Standard Time"'})
    assert london.headers["Preference-Applied"] == 'outlook.timezone="GMT Standard Time"'
    assert london.json()["start"] == {"dateTime": "2026-06-20T17:00:00.0000000", "timeZone": "GMT Standard Time"}
    assert SEVEN_DIGITS.match(london.json()["end"]["dateTime"])
    iana = graph.get(f"/me/events/{event['id']}", headers={"Prefer": 'outlook.timezone="Europe/Berlin"'}).json()
    assert iana["start"]["dateTime"] == "2026-06-20T18:00:00.0000000"
    combined = graph.get(f"/me/events/{event['id']}", headers={"Prefer": 'outlook.timezone="UTC", odata.maxpagesize=5'}).json()
    assert combined["end"]["dateTime"] == "2026-06-20T17:30:00.0000000"
    bad_zone = graph.post("/me/events", json=event_payload(zone="Mars Standard Time"))
    assert bad_zone.status_code == 400 and bad_zone.json()["error"]["code"] == "TimeZoneNotSupportedException"
    backwards = graph.post("/me/events", json=event_payload(start="2026-06-20T10:00:00", end="2026-06-20T09:00:00"))
    assert backwards.status_code == 400


def test_all_day_validation(alice):
    _, graph = alice
    ok = graph.post("/me/events", json=event_payload(start="2026-06-20T00:00:00", end="2026-06-22T00:00:00", zone="W. Europe Standard Time", isAllDay=True))
    assert ok.status_code == 201, ok.text
    # All-day events are floating dates: midnights whatever the reader's zone.
    read = graph.get(f"/me/events/{ok.json()['id']}", headers={"Prefer": 'outlook.timezone="Pacific Standard Time"'}).json()
    assert read["isAllDay"] is True
    assert read["start"] == {"dateTime": "2026-06-20T00:00:00.0000000", "timeZone": "Pacific Standard Time"}
    assert read["end"]["dateTime"] == "2026-06-22T00:00:00.0000000"
    not_midnight = graph.post("/me/events", json=event_payload(start="2026-06-20T09:00:00", end="2026-06-21T00:00:00", isAllDay=True))
    assert not_midnight.status_code == 400
    assert not_midnight.json()["error"]["code"] == "ErrorPropertyValidationError" and "midnight" in not_midnight.json()["error"]["message"]
    zero_days = graph.post("/me/events", json=event_payload(start="2026-06-20T00:00:00", end="2026-06-20T00:00:00", isAllDay=True))
    assert zero_days.status_code == 400
    timed = graph.post("/me/events", json=event_payload()).json()
    flip = graph.patch(f"/me/events/{timed['id']}", json={"isAllDay": True})
    assert flip.status_code == 400


def test_calendar_view_window_and_paging(alice):
    _, graph = alice
    ids = []
    for day in range(1, 26):
        ids.append(graph.post("/me/events", json=event_payload(subject=f"E{day}", start=f"2026-07-{day:02d}T10:00:00", end=f"2026-07-{day:02d}T11:00:00")).json()["id"])
    graph.post("/me/events", json=event_payload(subject="Outside", start="2026-09-01T10:00:00", end="2026-09-01T11:00:00"))
    missing = graph.get("/me/calendarView")
    assert missing.status_code == 400
    params = {"startDateTime": "2026-07-01T00:00:00.0000000Z", "endDateTime": "2026-08-01T00:00:00.0000000Z"}
    first = graph.get("/me/calendarView", params=params)
    assert first.status_code == 200
    assert len(first.json()["value"]) == 10 and first.json()["@odata.nextLink"].startswith(graph.emulator.graph_url + "/me/calendarView?")
    seen, page = [], first.json()
    while True:
        seen += [e["id"] for e in page["value"]]
        if "@odata.nextLink" not in page:
            break
        page = graph.get(page["@odata.nextLink"]).json()
    assert seen == ids
    small = graph.get("/me/calendarView", params=params, headers={"Prefer": "odata.maxpagesize=7"})
    assert len(small.json()["value"]) == 7 and small.headers["Preference-Applied"] == "odata.maxpagesize=7"
    top = graph.get("/me/events", params={"$top": "3"}).json()
    assert len(top["value"]) == 3 and "$skip=3" in top["@odata.nextLink"]
    # An event overlapping the window's edge is included.
    edge = graph.post("/me/events", json=event_payload(start="2026-06-30T23:00:00", end="2026-07-01T01:00:00")).json()
    everything = graph.get("/me/calendarView", params=params, headers={"Prefer": "odata.maxpagesize=100"}).json()["value"]
    assert edge["id"] in [e["id"] for e in everything] and len(everything) == 26


def test_users_path_for_self_and_unknown_segment(alice):
    user, graph = alice
    assert graph.get(f"/users/{user['id']}/calendars").status_code == 200
    assert graph.get("/users/alice@contoso.com").json()["id"] == user["id"]
    assert graph.get("/me/nonsense").status_code == 400


def test_control_events_act_like_outlook(alice, control):
    _, graph = alice
    created = control.create_event("alice@contoso.com", event_payload(subject="Dentist"))
    assert graph.get(f"/me/events/{created['id']}").json()["subject"] == "Dentist"
    control.delete_event("alice@contoso.com", created["id"])
    assert graph.get(f"/me/events/{created['id']}").status_code == 404
