"""Typed Graph calendar operations on top of :class:`~.client.GraphClient`.

Everything returned here is a dataclass from :mod:`.types`; raw Graph JSON does
not travel further than this module.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from .client import GraphClient
from .types import GraphCalendar, GraphEvent, GraphScheduleItem, GraphUser, parse_delta_item

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


def tagged_event_ids(client: GraphClient, calendar_id: str, property_id: str) -> list[str]:
    """Ids of the events in the calendar that carry WedSync's extended property (ours, whatever the mappings say)."""
    params = {"$filter": f"singleValueExtendedProperties/Any(ep: ep/id eq '{property_id}' and ep/value ne null)", "$select": "id", "$top": "100"}
    ids: list[str] = []
    for page in client.pages(calendar_events_path(calendar_id), params=params):
        ids.extend(str(item["id"]) for item in page.get("value", []) if item.get("id"))
    return ids


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
