"""Recurring events: series masters, occurrences, exceptions and cancelled occurrences.

resources/patternedrecurrence.md, recurrencepattern.md, recurrencerange.md: a series master carries
``recurrence`` = {pattern: {type daily|weekly|absoluteMonthly|relativeMonthly|absoluteYearly|
relativeYearly, interval, daysOfWeek, dayOfMonth, month, index, firstDayOfWeek}, range: {type
endDate|noEnd|numbered, startDate, endDate, numberOfOccurrences, recurrenceTimeZone}}.
resources/event.md: ``type`` is singleInstance, occurrence, exception or seriesMaster, and
occurrences and exceptions carry ``seriesMasterId``; list-events returns masters (not occurrences),
while calendarView and /events/{id}/instances expand a series into its occurrences in the window.
Editing an occurrence makes it an exception; deleting one cancels it (it disappears from views).

Occurrence ids are ``{master id}.{yyyymmdd}`` (opaque to clients, like Graph's).
"""
from __future__ import annotations

import calendar as cal
import datetime as dt

from . import tz
from .errors import GraphError

PATTERNS = ("daily", "weekly", "absoluteMonthly", "relativeMonthly", "absoluteYearly", "relativeYearly")
RANGES = ("endDate", "noEnd", "numbered")
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
INDEXES = ("first", "second", "third", "fourth", "last")
MAX_OCCURRENCES = 2000
#: Properties an exception may override (the rest come from the master).
EXCEPTION_PROPS = ("subject", "body", "location", "locations", "showAs", "categories", "sensitivity", "importance",
                   "reminderMinutesBeforeStart", "isReminderOn", "attendees")


def bad(message: str) -> GraphError:
    return GraphError(400, "ErrorInvalidRecurrence" if "recurrence" in message.lower() else "ErrorInvalidRequest", message)


def validate(value) -> dict:
    if not isinstance(value, dict) or not isinstance(value.get("pattern"), dict) or not isinstance(value.get("range"), dict):
        raise bad("The recurrence needs a pattern and a range.")
    pattern, rng = dict(value["pattern"]), dict(value["range"])
    if pattern.get("type") not in PATTERNS:
        raise GraphError(400, "RequestBodyRead", f"Cannot convert the literal '{pattern.get('type')}' to the expected type 'microsoft.graph.recurrencePatternType'.")
    interval = pattern.get("interval", 1)
    if not isinstance(interval, int) or interval < 1:
        raise bad("The recurrence pattern's interval must be a positive integer.")
    pattern["interval"] = interval
    days = pattern.get("daysOfWeek") or []
    if any(d not in DAYS for d in days):
        raise GraphError(400, "RequestBodyRead", "Cannot convert a value of daysOfWeek to the expected type 'microsoft.graph.dayOfWeek'.")
    if pattern["type"] in ("weekly", "relativeMonthly", "relativeYearly") and not days:
        raise bad(f"A {pattern['type']} recurrence pattern needs daysOfWeek.")
    if pattern["type"] in ("absoluteMonthly", "absoluteYearly") and not 1 <= int(pattern.get("dayOfMonth") or 0) <= 31:
        raise bad(f"An {pattern['type']} recurrence pattern needs dayOfMonth (1-31).")
    if pattern["type"] in ("absoluteYearly", "relativeYearly") and not 1 <= int(pattern.get("month") or 0) <= 12:
        raise bad(f"A {pattern['type']} recurrence pattern needs month (1-12).")
    if pattern.get("index", "first") not in INDEXES:
        raise bad("The recurrence pattern's index must be first, second, third, fourth or last.")
    if rng.get("type") not in RANGES:
        raise GraphError(400, "RequestBodyRead", f"Cannot convert the literal '{rng.get('type')}' to the expected type 'microsoft.graph.recurrenceRangeType'.")
    try:
        dt.date.fromisoformat(str(rng.get("startDate")))
        if rng["type"] == "endDate":
            if dt.date.fromisoformat(str(rng.get("endDate"))) < dt.date.fromisoformat(rng["startDate"]):
                raise bad("The recurrence range's endDate is before its startDate.")
    except (TypeError, ValueError):
        raise bad("The recurrence range needs startDate (and endDate for an endDate range) as yyyy-MM-dd.") from None
    if rng["type"] == "numbered" and (not isinstance(rng.get("numberOfOccurrences"), int) or rng["numberOfOccurrences"] < 1):
        raise bad("A numbered recurrence range needs numberOfOccurrences >= 1.")
    return {"pattern": pattern, "range": rng}


def _nth_weekday(year: int, month: int, weekday: int, index: str) -> dt.date | None:
    days = [d for d in cal.Calendar().itermonthdates(year, month) if d.month == month and d.weekday() == weekday]
    if index == "last":
        return days[-1]
    position = INDEXES.index(index)
    return days[position] if position < len(days) else None


def dates(recurrence: dict, until: dt.date):
    """The series' occurrence dates in order, from the range's startDate, not after ``until`` or the range's end."""
    pattern, rng = recurrence["pattern"], recurrence["range"]
    start = dt.date.fromisoformat(rng["startDate"])
    end = dt.date.fromisoformat(rng["endDate"]) if rng["type"] == "endDate" else None
    limit = rng.get("numberOfOccurrences") if rng["type"] == "numbered" else None
    interval = pattern["interval"]
    weekdays = sorted(DAYS.index(d) for d in pattern.get("daysOfWeek") or [])
    count = 0

    def candidates():
        kind = pattern["type"]
        if kind == "daily":
            day = start
            while True:
                yield day
                day += dt.timedelta(days=interval)
        elif kind == "weekly":
            first_day = DAYS.index(pattern.get("firstDayOfWeek") or "sunday")
            week = start - dt.timedelta(days=(start.weekday() - first_day) % 7)
            while True:
                for offset in range(7):
                    day = week + dt.timedelta(days=offset)
                    if day.weekday() in weekdays:
                        yield day
                week += dt.timedelta(weeks=interval)
        else:
            year, month = start.year, start.month
            if kind in ("absoluteYearly", "relativeYearly"):
                month = int(pattern["month"])
            while True:
                if kind in ("absoluteMonthly", "absoluteYearly"):
                    day_of_month = min(int(pattern["dayOfMonth"]), cal.monthrange(year, month)[1])
                    yield dt.date(year, month, day_of_month)
                else:
                    found = [_nth_weekday(year, month, w, pattern.get("index") or "first") for w in weekdays]
                    yield from sorted(d for d in found if d)
                if kind.endswith("Monthly"):
                    month += interval
                    year += (month - 1) // 12
                    month = (month - 1) % 12 + 1
                else:
                    year += interval

    for day in candidates():
        if day < start:
            continue
        if (end and day > end) or day > until or (limit and count >= limit) or count >= MAX_OCCURRENCES:
            return
        count += 1
        yield day


def occurrence_id(master_id: str, day: dt.date) -> str:
    return f"{master_id}.{day.strftime('%Y%m%d')}"


def split_id(event_id: str) -> tuple[str, dt.date] | None:
    master, sep, day = event_id.rpartition(".")
    if not sep or len(day) != 8 or not day.isdigit():
        return None
    try:
        return master, dt.date(int(day[:4]), int(day[4:6]), int(day[6:]))
    except ValueError:
        return None


def occurrence_times(master: dict, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The occurrence's start/end: the master's local start time on ``day`` in the series' zone, same duration."""
    zone_name = master["recurrence"]["range"].get("recurrenceTimeZone") or master["start_tz"]
    zone = tz.resolve_zone(zone_name)
    first = tz.from_iso(master["start"]).astimezone(zone)
    duration = tz.from_iso(master["end"]) - tz.from_iso(master["start"])
    local = dt.datetime.combine(day, first.time()).replace(tzinfo=zone)
    start = local.astimezone(dt.timezone.utc)
    return start, start + duration


def occurrences(master: dict, window_start: dt.datetime, window_end: dt.datetime) -> list[dict]:
    """Occurrences and exceptions of ``master`` overlapping the window (cancelled ones left out), as
    {id, day, start, end, exception}; an exception's start/end are its own."""
    out = []
    exceptions = master.get("exceptions") or {}
    cancelled = set(master.get("cancelled") or [])
    for day in dates(master["recurrence"], (window_end + dt.timedelta(days=1)).date()):
        key = day.isoformat()
        if key in cancelled:
            continue
        start, end = occurrence_times(master, day)
        exception = exceptions.get(key)
        if exception and exception.get("start"):
            start, end = tz.from_iso(exception["start"]), tz.from_iso(exception["end"])
        if (start < window_end and end > window_start) or (start == end and window_start <= start < window_end):
            out.append({"id": occurrence_id(master["id"], day), "day": key, "start": start, "end": end, "exception": exception})
    return out


def is_occurrence_day(master: dict, day: dt.date) -> bool:
    return any(d == day for d in dates(master["recurrence"], day))
