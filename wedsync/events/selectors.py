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


#: Types that are not appointments (a to-do, a due date): they never clash with a booking.
NOT_BOOKINGS = ("task_due", "deadline")


def own_clashes(supplier, *, starts_at: dt.datetime, ends_at: dt.datetime, event_type: str = "", is_all_day: bool = False,
                exclude_event_id=None, limit: int = 5) -> list[str]:
    """Warnings for a booking placed over another of the supplier's own WedSync bookings.

    Only timed appointments count on both sides: all-day entries, tasks and
    deadlines do not block time. The event being edited is left out.
    """
    if is_all_day or event_type in NOT_BOOKINGS or not starts_at or not ends_at or ends_at <= starts_at:
        return []
    clashes = supplier_events(supplier, start=starts_at, end=ends_at).filter(is_all_day=False).exclude(event_type__in=NOT_BOOKINGS)
    if exclude_event_id:
        clashes = clashes.exclude(pk=exclude_event_id)
    return [f"You already have “{title or 'a booking'}” in WedSync at that time." for title in clashes.values_list("title", flat=True)[:limit]]
