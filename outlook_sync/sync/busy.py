"""The other calendars the supplier ticked as busy: read through calendarView delta like the synced one.

Each :class:`~outlook_sync.models.OutlookBusyCalendar` keeps its own delta link
and window. Its events are stored as :class:`~outlook_sync.models.OutlookBusyTime`
with its ``calendar_id`` (the double-booking check reads them with the synced
calendar's busy time) and never become WedSync events. A full read re-reads
the window and forgets busy time the read did not list; an incremental read
follows the link (an expired link, 410, is a full re-read). A calendar deleted
in Outlook is forgotten with its busy time; one Outlook refuses to read (e.g. 403
on a shared calendar) keeps its last busy time and is reported on the run, which
goes on: a busy calendar never stops WedSync's events from syncing.
"""
from __future__ import annotations

import logging

from django.utils import timezone

from .. import wording
from ..graph import calendar_api
from ..graph.errors import DeltaExpiredError, GraphError, MailboxBusy, NotFoundError, ReauthorizationRequired, ThrottledError
from ..graph.types import DeltaRemoved, GraphEvent
from ..models import OutlookBusyCalendar, OutlookBusyTime
from . import mapping

logger = logging.getLogger(__name__)


def read_busy_calendars(sync, *, full: bool) -> None:
    """Read every ticked calendar (except the synced one, which the run reads anyway) for ``sync`` (an engine run)."""
    integration = sync.integration
    ticked = OutlookBusyCalendar.objects.filter(integration=integration).exclude(calendar_id=integration.calendar_id or "")
    for calendar in ticked:
        try:
            _read(sync, calendar, full=full or not calendar.delta_link or calendar.delta_window_start is None)
        except DeltaExpiredError:
            _read(sync, calendar, full=True)
        except NotFoundError:
            logger.info("Busy calendar %s of integration %s is gone from Outlook: forgotten", calendar.pk, integration.pk)
            OutlookBusyTime.objects.filter(integration=integration, calendar_id=calendar.calendar_id).delete()
            calendar.delete()
        except (ReauthorizationRequired, ThrottledError, MailboxBusy):
            raise  # the whole mailbox: the run ends as for the synced calendar
        except GraphError as exc:
            # This calendar only (a shared one Outlook no longer lets us read, a calendar delta refuses): its busy
            # time stays as last read and the rest of the run goes on; the supplier is told which calendar.
            logger.warning("Busy calendar %s of integration %s could not be read (%s %s)", calendar.pk, integration.pk, exc.status, exc.code)
            sync.errors.append({"eventId": "", "eventType": "", "errorCode": wording.error_code(exc), "retryable": True,
                                "errorMessage": f"We couldn't read your “{calendar.name}” calendar to check for double bookings, "
                                                "so its appointments may be out of date. Everything else synced; we'll try again with the next sync."})


def _read(sync, calendar: OutlookBusyCalendar, *, full: bool) -> None:
    start, end = sync.window
    read_started = timezone.now()
    link = None
    pages = calendar_api.delta_pages(sync.client, calendar_id=calendar.calendar_id, start=start if full else None,
                                     end=end if full else None, delta_link=None if full else calendar.delta_link)
    for items, page_link in pages:
        busy = [i for i in items if isinstance(i, GraphEvent) and mapping.tag_of(i, sync.integration.pk) is None]
        removed = [i.id for i in items if isinstance(i, DeltaRemoved)]
        _store(sync, calendar, sync.with_series_details(busy), removed)
        link = page_link or link
    if full:
        OutlookBusyTime.objects.filter(integration=sync.integration, calendar_id=calendar.calendar_id, updated_at__lt=read_started).delete()
        calendar.delta_window_start, calendar.delta_window_end = start, end
    calendar.delta_link = link
    calendar.save(update_fields=["delta_link", "delta_window_start", "delta_window_end"])


def _store(sync, calendar: OutlookBusyCalendar, events: list[GraphEvent], removed: list[str]) -> None:
    if removed:
        OutlookBusyTime.objects.filter(integration=sync.integration, calendar_id=calendar.calendar_id, outlook_event_id__in=removed).delete()
    now = timezone.now()
    rows = [
        OutlookBusyTime(integration=sync.integration, calendar_id=calendar.calendar_id, outlook_event_id=e.id, subject=e.subject[:500],
                        starts_at=e.start, ends_at=e.end, is_all_day=e.is_all_day, show_as=e.show_as, updated_at=now)
        for e in events if e.start and e.end
    ]
    if rows:
        OutlookBusyTime.objects.bulk_create(
            rows, update_conflicts=True, unique_fields=["integration", "outlook_event_id"],
            update_fields=["calendar_id", "subject", "starts_at", "ends_at", "is_all_day", "show_as", "updated_at"],
        )
