"""Helpers for benchmarks that need many events quickly (set-up only; the measured work goes through the engine)."""
from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor


def bulk_wedsync_events(supplier, n: int, *, days_ahead: int = 1) -> None:
    """N WedSync events in one INSERT (set-up speed; behaviour under test never takes this path)."""
    from django.utils import timezone

    from wedsync.events.models import CalendarEvent

    base = timezone.now().replace(minute=0, second=0, microsecond=0) + dt.timedelta(days=days_ahead)
    CalendarEvent.objects.bulk_create([
        CalendarEvent(
            supplier=supplier, event_type="client_meeting", title=f"Consultation {i}", location="The Old Barn",
            starts_at=base + dt.timedelta(hours=i % 5000), ends_at=base + dt.timedelta(hours=i % 5000, minutes=45), time_zone="Europe/London",
        )
        for i in range(n)
    ], batch_size=2000)


def bulk_outlook_events(control, email: str, n: int, *, days_ahead: int = 1) -> None:
    """N events the supplier made in Outlook (through the emulator's control API, 8 at a time)."""
    from django.utils import timezone

    base = timezone.now().replace(minute=0, second=0, microsecond=0) + dt.timedelta(days=days_ahead)
    fmt = "%Y-%m-%dT%H:%M:%S.0000000"

    def make(i: int) -> None:
        start = base + dt.timedelta(hours=i % 5000)
        control.create_event(email, {
            "subject": f"Private appointment {i}", "showAs": "busy",
            "start": {"dateTime": start.strftime(fmt), "timeZone": "UTC"},
            "end": {"dateTime": (start + dt.timedelta(minutes=30)).strftime(fmt), "timeZone": "UTC"},
        })

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(make, range(n)))
