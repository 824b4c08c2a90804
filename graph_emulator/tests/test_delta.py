"""calendarView/delta: initial pages, deltaLink with only changes and @removed, 410 SyncStateNotFound."""
from __future__ import annotations

from .conftest import event_payload

WINDOW = {"startDateTime": "2026-07-01T00:00:00.0000000Z", "endDateTime": "2026-08-01T00:00:00.0000000Z"}


def read_all(graph, url, params=None, headers=None):
    pages = [graph.get(url, params=params, headers=headers or {})]
    assert pages[-1].status_code == 200, pages[-1].text
    while "@odata.nextLink" in pages[-1].json():
        pages.append(graph.get(pages[-1].json()["@odata.nextLink"], headers=headers or {}))
        assert pages[-1].status_code == 200, pages[-1].text
    return pages


def test_delta_initial_pages_then_only_changes(alice, control):
    _, graph = alice
    cal = graph.post("/me/calendars", json={"name": "Weddings"}).json()
    ids = [graph.post(f"/me/calendars/{cal['id']}/events", json=event_payload(subject=f"E{i}", start=f"2026-07-{i:02d}T10:00:00", end=f"2026-07-{i:02d}T11:00:00")).json()["id"]
           for i in range(1, 8)]
    outside = graph.post(f"/me/calendars/{cal['id']}/events", json=event_payload(subject="Later", start="2026-09-01T10:00:00", end="2026-09-01T11:00:00")).json()
    graph.post("/me/events", json=event_payload(subject="Other calendar", start="2026-07-02T10:00:00", end="2026-07-02T11:00:00"))

    url = f"/me/calendars/{cal['id']}/calendarView/delta"
    headers = {"Prefer": 'outlook.timezone="UTC", odata.maxpagesize=3'}
    pages = read_all(graph, url, WINDOW, headers)
    assert [len(p.json()["value"]) for p in pages] == [3, 3, 1]
    assert all("$skiptoken=" in p.json()["@odata.nextLink"] for p in pages[:-1])
    assert all("@odata.deltaLink" not in p.json() for p in pages[:-1])
    delta_link = pages[-1].json()["@odata.deltaLink"]
    assert "$deltatoken=" in delta_link and delta_link.startswith(graph.emulator.graph_url)
    assert [e["id"] for p in pages for e in p.json()["value"]] == ids
    assert pages[0].headers["Preference-Applied"] == 'outlook.timezone="UTC", odata.maxpagesize=3'

    # Nothing changed: an empty page with a new deltaLink.
    unchanged = graph.get(delta_link, headers=headers).json()
    assert unchanged["value"] == [] and "@odata.deltaLink" in unchanged

    graph.patch(f"/me/events/{ids[0]}", json={"subject": "Renamed"})
    control.delete_event("alice@contoso.com", ids[1])
    new = graph.post(f"/me/calendars/{cal['id']}/events", json=event_payload(subject="New", start="2026-07-20T10:00:00", end="2026-07-20T11:00:00")).json()
    graph.patch(f"/me/events/{ids[2]}", json={"start": {"dateTime": "2026-10-01T10:00:00", "timeZone": "UTC"}, "end": {"dateTime": "2026-10-01T11:00:00", "timeZone": "UTC"}})
    graph.patch(f"/me/events/{outside['id']}", json={"subject": "Still outside"})
    created_and_deleted = graph.post(f"/me/calendars/{cal['id']}/events", json=event_payload(start="2026-07-21T10:00:00", end="2026-07-21T11:00:00")).json()
    graph.delete(f"/me/events/{created_and_deleted['id']}")

    changes = read_all(graph, delta_link, headers=headers)
    items = [e for p in changes for e in p.json()["value"]]
    by_id = {e["id"]: e for e in items}
    # event-delta.md: events outside the window that were added, deleted or updated since come back as @removed too.
    assert set(by_id) == {ids[0], ids[1], new["id"], ids[2], outside["id"], created_and_deleted["id"]}
    assert by_id[outside["id"]]["@removed"] == by_id[created_and_deleted["id"]]["@removed"] == {"reason": "deleted"}
    assert by_id[ids[0]]["subject"] == "Renamed"
    assert by_id[ids[1]] == {"@odata.type": "#microsoft.graph.event", "id": ids[1], "@removed": {"reason": "deleted"}}
    assert by_id[ids[2]]["@removed"] == {"reason": "deleted"}  # moved out of the window
    assert by_id[new["id"]]["subject"] == "New"

    # The old deltaLink still works until it expires; after expiry: 410 SyncStateNotFound.
    next_link = changes[-1].json()["@odata.deltaLink"]
    assert graph.get(next_link).json()["value"] == []
    control.expire_delta_tokens()
    gone = graph.get(next_link)
    assert gone.status_code == 410 and gone.json()["error"]["code"] == "SyncStateNotFound"
    assert graph.get(url.replace("delta", "delta") + "?$deltatoken=unknown").status_code == 410


def test_delta_token_lifetime(alice, control):
    _, graph = alice
    # A lifetime of 0: the token has expired by the next request (no waiting for a clock to pass).
    control.set_config(delta_token_lifetime_s=0)
    first = read_all(graph, "/me/calendarView/delta", WINDOW)
    assert graph.get(first[-1].json()["@odata.deltaLink"]).status_code == 410


def test_delta_requires_a_window(alice):
    _, graph = alice
    assert graph.get("/me/calendarView/delta").status_code == 400


def test_delta_event_moved_into_window_appears(alice):
    _, graph = alice
    event = graph.post("/me/events", json=event_payload(start="2026-09-01T10:00:00", end="2026-09-01T11:00:00")).json()
    link = read_all(graph, "/me/calendarView/delta", WINDOW)[-1].json()["@odata.deltaLink"]
    graph.patch(f"/me/events/{event['id']}", json={"start": {"dateTime": "2026-07-05T10:00:00", "timeZone": "UTC"}, "end": {"dateTime": "2026-07-05T11:00:00", "timeZone": "UTC"}})
    items = graph.get(link).json()["value"]
    assert [e["id"] for e in items] == [event["id"]] and "@removed" not in items[0]
