"""Recurring events (resources/patternedrecurrence.md, event.md, event-list-instances.md, event-delta.md)."""
from __future__ import annotations

from .conftest import event_payload

JUNE = {"startDateTime": "2026-06-01T00:00:00Z", "endDateTime": "2026-07-01T00:00:00Z"}


def series(graph, pattern, rng, start="2026-06-01T09:00:00", end="2026-06-01T10:00:00", subject="Stand-up"):
    body = event_payload(subject=subject, start=start, end=end, recurrence={"pattern": pattern, "range": rng})
    response = graph.post("/me/events", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def view(graph, params=JUNE):
    return graph.get("/me/calendarView", params=params, headers={"Prefer": "odata.maxpagesize=200"}).json()["value"]


def test_patterns_expand_in_calendar_view(alice):
    _user, graph = alice
    daily = series(graph, {"type": "daily", "interval": 2}, {"type": "numbered", "startDate": "2026-06-01", "numberOfOccurrences": 4})
    assert daily["type"] == "seriesMaster" and daily["recurrence"]["pattern"]["type"] == "daily"
    weekly = series(graph, {"type": "weekly", "interval": 1, "daysOfWeek": ["tuesday", "thursday"]},
                    {"type": "endDate", "startDate": "2026-06-01", "endDate": "2026-06-14"}, subject="Gym")
    monthly = series(graph, {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 15}, {"type": "noEnd", "startDate": "2026-01-15"},
                     start="2026-01-15T12:00:00", end="2026-01-15T13:00:00", subject="Rent")
    relative = series(graph, {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["friday"], "index": "last"},
                      {"type": "noEnd", "startDate": "2026-05-01"}, start="2026-05-29T16:00:00", end="2026-05-29T17:00:00", subject="Drinks")
    yearly = series(graph, {"type": "absoluteYearly", "interval": 1, "dayOfMonth": 20, "month": 6}, {"type": "noEnd", "startDate": "2020-06-20"},
                    start="2020-06-20T08:00:00", end="2020-06-20T09:00:00", subject="Anniversary")
    items = view(graph)
    starts = {}
    for item in items:
        assert item["type"] == "occurrence"
        starts.setdefault(item["seriesMasterId"], []).append(item["start"]["dateTime"][:10])
    assert starts[daily["id"]] == ["2026-06-01", "2026-06-03", "2026-06-05", "2026-06-07"]
    assert starts[weekly["id"]] == ["2026-06-02", "2026-06-04", "2026-06-09", "2026-06-11"]
    assert starts[monthly["id"]] == ["2026-06-15"]
    assert starts[relative["id"]] == ["2026-06-26"]
    assert starts[yearly["id"]] == ["2026-06-20"]
    # list-events shows the masters, not occurrences.
    listed = graph.get("/me/events", headers={"Prefer": "odata.maxpagesize=50"}).json()["value"]
    assert {e["type"] for e in listed} == {"seriesMaster"}
    instances = graph.get(f"/me/events/{weekly['id']}/instances", params=JUNE).json()["value"]
    assert [i["start"]["dateTime"][:10] for i in instances] == starts[weekly["id"]]


def test_editing_an_occurrence_makes_an_exception_and_deleting_cancels(alice):
    _user, graph = alice
    master = series(graph, {"type": "daily", "interval": 1}, {"type": "numbered", "startDate": "2026-06-01", "numberOfOccurrences": 3})
    first, second, third = view(graph)
    changed = graph.patch(f"/me/events/{second['id']}", json={"subject": "Moved stand-up", "start": {"dateTime": "2026-06-02T11:00:00", "timeZone": "UTC"},
                                                               "end": {"dateTime": "2026-06-02T12:00:00", "timeZone": "UTC"}})
    assert changed.status_code == 200, changed.text
    assert changed.json()["type"] == "exception" and changed.json()["subject"] == "Moved stand-up"
    assert graph.delete(f"/me/events/{third['id']}").status_code == 204
    items = view(graph)
    assert [(i["type"], i["subject"], i["start"]["dateTime"][:16]) for i in items] == [
        ("occurrence", "Stand-up", "2026-06-01T09:00"), ("exception", "Moved stand-up", "2026-06-02T11:00")]
    assert graph.get(f"/me/events/{third['id']}").status_code == 404
    # Editing the series changes every occurrence that is not an exception.
    graph.patch(f"/me/events/{master['id']}", json={"subject": "Daily sync"})
    assert [i["subject"] for i in view(graph)] == ["Daily sync", "Moved stand-up"]


def test_delta_expands_series_with_reduced_occurrences(alice):
    """Occurrences in calendarView delta carry only id, etag/changeKey, type, seriesMasterId, start and end."""
    _user, graph = alice
    master = series(graph, {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]}, {"type": "noEnd", "startDate": "2026-06-01"})
    first = graph.get("/me/calendarView/delta", params=JUNE).json()
    occurrences = first["value"]
    assert len(occurrences) == 5  # June 2026 has five Mondays
    assert set(occurrences[0]) <= {"@odata.type", "@odata.etag", "id", "changeKey", "type", "seriesMasterId", "start", "end"}
    assert "subject" not in occurrences[0] and occurrences[0]["seriesMasterId"] == master["id"]
    graph.delete(f"/me/events/{occurrences[1]['id']}")
    changes = graph.get(first["@odata.deltaLink"]).json()["value"]
    removed = [c["id"] for c in changes if "@removed" in c]
    assert removed == [occurrences[1]["id"]]
    assert len([c for c in changes if "@removed" not in c]) == 4


def test_bad_recurrence_is_refused(alice):
    _user, graph = alice
    body = event_payload(recurrence={"pattern": {"type": "weekly", "interval": 1}, "range": {"type": "noEnd", "startDate": "2026-06-01"}})
    assert graph.post("/me/events", json=body).status_code == 400
    body = event_payload(recurrence={"pattern": {"type": "hourly"}, "range": {"type": "noEnd", "startDate": "2026-06-01"}})
    assert graph.post("/me/events", json=body).status_code == 400


def test_series_edits_notify(alice, receiver):
    from .test_subscriptions import subscribe

    _user, graph = alice
    master = series(graph, {"type": "daily", "interval": 1}, {"type": "numbered", "startDate": "2026-06-01", "numberOfOccurrences": 3})
    subscribe(graph, receiver, changeType="updated")
    occurrence = view(graph)[0]
    graph.patch(f"/me/events/{occurrence['id']}", json={"subject": "Just this one"})
    items = receiver.wait_for(lambda n: any(v["resourceData"]["id"] == master["id"] for p in n for v in p["payload"]["value"]))
    assert items[0]["payload"]["value"][0]["changeType"] == "updated"
