"""Typed Graph calendar operations on top of :class:`~.client.GraphClient`.

Everything returned here is a dataclass from :mod:`.types`; raw Graph JSON does
not travel further than this module.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence

from .client import BatchRequest, GraphClient
from .errors import GraphError, NotFoundError
from .types import EventUpdate, GraphCalendar, GraphEvent, GraphScheduleItem, GraphUser, NewEvent, parse_delta_item
from .wire import event_json, new_event_json

_CALENDAR_FIELDS = "id,name,color,isDefaultCalendar,canEdit,owner"


def me(client: GraphClient) -> GraphUser:
    return GraphUser.from_json(client.get("/me").body)


def list_calendars(client: GraphClient) -> list[GraphCalendar]:
    """Every calendar of the signed-in user (all pages)."""
    calendars: list[GraphCalendar] = []
    for page in client.pages("/me/calendars", params={"$select": _CALENDAR_FIELDS}):
        calendars.extend(GraphCalendar.from_json(item) for item in page.get("value", []))
    return calendars


def create_calendar(client: GraphClient, name: str) -> GraphCalendar:
    return GraphCalendar.from_json(client.post("/me/calendars", json={"name": name}, retry_safe=False).body)


# --- events ---
#: Read every date-time in UTC; the event's own zone is kept in ``originalStartTimeZone``.
READ_HEADERS = {"Prefer": 'outlook.timezone="UTC"'}
DELTA_PAGE_SIZE = 200


def event_path(event_id: str) -> str:
    return f"/me/events/{event_id}"


def calendar_events_path(calendar_id: str) -> str:
    return f"/me/calendars/{calendar_id}/events"


def get_event(client: GraphClient, event_id: str) -> GraphEvent:
    """One event; raises :class:`~.errors.NotFoundError` when it is gone."""
    return GraphEvent.from_json(client.get(event_path(event_id), headers=READ_HEADERS).body)


def delta_pages(client: GraphClient, *, calendar_id: str, start=None, end=None, delta_link: str | None = None) -> Iterator[tuple[list, str | None]]:
    """calendarView delta: yields ``(items, delta_link)`` per page; ``delta_link`` is set on the last page only.

    Start a new read with ``start``/``end`` (a fresh full read of the window)
    or continue with a stored ``delta_link`` (only changes since). Items are
    :class:`GraphEvent` or :class:`DeltaRemoved`. An expired link raises
    :class:`~.errors.DeltaExpiredError`.
    """
    headers = {**READ_HEADERS, "Prefer": f'outlook.timezone="UTC", odata.maxpagesize={DELTA_PAGE_SIZE}'}
    if delta_link:
        pages = client.pages(delta_link, headers=headers)
    else:
        params = {"startDateTime": _iso(start), "endDateTime": _iso(end)}
        pages = client.pages(f"/me/calendars/{calendar_id}/calendarView/delta", params=params, headers=headers)
    for page in pages:
        yield [parse_delta_item(item) for item in page.get("value", [])], page.get("@odata.deltaLink")


def tagged_event_ids(client: GraphClient, calendar_id: str, property_id: str, *, value_prefix: str) -> list[str]:
    """Ids of :func:`tagged_events`."""
    return [event.id for event in tagged_events(client, calendar_id, property_id, value_prefix=value_prefix)]


def tagged_events(client: GraphClient, calendar_id: str, property_id: str, *, value_prefix: str) -> list[GraphEvent]:
    """Ids of the events in the calendar whose tag (extended property) starts with ``value_prefix``.

    Graph filters extended properties by ``eq``/``ne`` only, so the query lists
    every tagged event with its tag expanded, and the prefix (the integration
    id) is checked here: another integration's events are never listed.
    """
    params = {
        "$filter": f"singleValueExtendedProperties/Any(ep: ep/id eq '{_quote(property_id)}' and ep/value ne null)",
        "$expand": f"singleValueExtendedProperties($filter=id eq '{_quote(property_id)}')",
        "$select": "id", "$top": "100",
    }
    params.pop("$select")
    found: list[GraphEvent] = []
    for page in client.pages(calendar_events_path(calendar_id), params=params, headers=READ_HEADERS):
        for item in page.get("value", []):
            event = GraphEvent.from_json(item)
            if (event.extended_property(property_id) or "").startswith(value_prefix):
                found.append(event)
    return found


def find_tagged(client: GraphClient, calendar_id: str, property_id: str, value: str) -> GraphEvent | None:
    """Our own copy carrying exactly this tag value (after a crash between a create and its mapping), or None."""
    params = {
        "$filter": f"singleValueExtendedProperties/Any(ep: ep/id eq '{_quote(property_id)}' and ep/value eq '{_quote(value)}')",
        "$expand": f"singleValueExtendedProperties($filter=id eq '{_quote(property_id)}')",
        "$top": "10",
    }
    for page in client.pages(calendar_events_path(calendar_id), params=params, headers=READ_HEADERS):
        for item in page.get("value", []):
            return GraphEvent.from_json(item)
    return None


def _quote(text: str) -> str:
    return str(text).replace("'", "''")


# --- typed writes ---
def _if_match(change_key: str | None) -> dict:
    return {"If-Match": f'W/"{change_key}"'} if change_key else {}


def create_event(client: GraphClient, calendar_id: str, event: NewEvent) -> GraphEvent:
    """POST one event with its ``transactionId``; the created (or, for a repeated id, the existing) event."""
    return GraphEvent.from_json(client.post(calendar_events_path(calendar_id), json=new_event_json(event), headers=READ_HEADERS).body)


def create_events(client: GraphClient, calendar_id: str, events: Sequence[NewEvent]) -> list[GraphEvent | GraphError]:
    """POST many through ``$batch``; per event, in order, the created event or the typed error Outlook answered."""
    path = calendar_events_path(calendar_id)
    requests = [BatchRequest(id=str(n), method="POST", url=path, headers=READ_HEADERS, body=new_event_json(event)) for n, event in enumerate(events)]
    answers = client.batch(requests) if requests else {}
    results: list[GraphEvent | GraphError] = []
    for request in requests:
        answer = answers.get(request.id)
        if answer is None or answer.status >= 300:
            results.append(GraphError.from_parts(answer.status if answer else 503, answer.headers if answer else {}, answer.body if answer else None))
        else:
            results.append(GraphEvent.from_json(answer.body))
    return results


def update_event(client: GraphClient, update: EventUpdate) -> GraphEvent | None:
    """PATCH with ``If-Match`` (412 -> :class:`~.errors.PreconditionFailedError`, 404 -> NotFoundError); the updated event."""
    response = client.patch(event_path(update.event_id), json=event_json(update.fields), headers={**READ_HEADERS, **_if_match(update.if_match)})
    return GraphEvent.from_json(response.body) if response.body else None


def delete_event(client: GraphClient, event_id: str, *, if_match: str | None) -> bool:
    """DELETE with ``If-Match``. True when the event is gone (404 counts); 412 raises PreconditionFailedError."""
    try:
        client.delete(event_path(event_id), headers=_if_match(if_match))
    except NotFoundError:
        return True
    return True


def delete_events(client: GraphClient, event_ids: Sequence[str], *, if_match: Mapping[str, str | None] | None = None) -> dict[str, bool]:
    """Delete many through ``$batch``; per id, whether Outlook confirmed it gone (2xx or 404).

    ``if_match`` gives a changeKey per id: that item is sent with ``If-Match`` (a 412 is then "not confirmed").
    """
    if not event_ids:
        return {}
    keys = if_match or {}
    requests = [BatchRequest(id=str(n), method="DELETE", url=event_path(oid), headers=_if_match(keys.get(oid))) for n, oid in enumerate(event_ids)]
    answers = client.batch(requests)
    return {oid: (answers.get(r.id) is not None and (answers[r.id].status < 300 or answers[r.id].status == 404)) for r, oid in zip(requests, event_ids)}


def _iso(value) -> str:
    """UTC in Graph's format; the year is zero-padded by hand (``%Y`` is not, on every platform)."""
    if not value:
        return ""
    utc = value.astimezone(dt.timezone.utc)
    return f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S}.0000000Z"


def get_schedule(client: GraphClient, email: str, start, end) -> list[GraphScheduleItem]:
    """Free/busy of one mailbox (Graph allows windows under 42 days); only busy, tentative and away blocks."""
    body = {
        "schedules": [email],
        "startTime": {"dateTime": _iso(start)[:-1], "timeZone": "UTC"},
        "endTime": {"dateTime": _iso(end)[:-1], "timeZone": "UTC"},
        "availabilityViewInterval": 30,
    }
    response = client.post("/me/calendar/getSchedule", json=body, retry_safe=True, headers=READ_HEADERS)
    items: list[GraphScheduleItem] = []
    for schedule in (response.body or {}).get("value", []):
        items.extend(GraphScheduleItem.from_json(item) for item in schedule.get("scheduleItems", []) if item.get("status") != "free")
    return items
