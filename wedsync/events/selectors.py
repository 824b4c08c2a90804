"""Read models of the events domain."""
from __future__ import annotations

import datetime as dt

from .models import CalendarEvent


def supplier_events(supplier, *, start: dt.datetime | None = None, end: dt.datetime | None = None, include_deleted: bool = False):
    """A supplier's events, optionally those overlapping [start, end)."""
    events = CalendarEvent.objects.for_supplier(supplier)
    if not include_deleted:
        events = events.live()
    if start is not None:
        events = events.filter(ends_at__gt=start)
    if end is not None:
        events = events.filter(starts_at__lt=end)
    return events.order_by("starts_at", "id")


def get_supplier_event(supplier, event_id) -> CalendarEvent:
    """One of the supplier's own events (deleted ones included); raises DoesNotExist otherwise."""
    return CalendarEvent.objects.for_supplier(supplier).get(pk=event_id)
