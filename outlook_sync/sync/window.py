"""The rolling window kept in sync (read by the engine and by the selectors' estimates)."""
from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone


def sync_window(now: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
    """Midnight ``SYNC_WINDOW_PAST_DAYS`` ago to ``SYNC_WINDOW_FUTURE_DAYS`` ahead."""
    now = now or timezone.now()
    today = now.astimezone(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - dt.timedelta(days=settings.SYNC_WINDOW_PAST_DAYS), today + dt.timedelta(days=settings.SYNC_WINDOW_FUTURE_DAYS)
