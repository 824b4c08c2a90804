"""Read models of the integration for the API and the settings page (no writes here)."""
from __future__ import annotations

import datetime as dt
import math

from django.conf import settings
from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils import timezone

from wedsync.events.models import CalendarEvent

from .models import MappingState, OutlookBusyTime, OutlookCalendarIntegration, OutlookEventMapping, OutlookSyncHistory, SyncStatus, SyncType

#: Measured throughput of a bulk run against Graph with 4 parallel $batch requests (see docs/BENCHMARKS.md),
#: used only to estimate how long a run will take.
EVENTS_PER_SECOND_ESTIMATE = 40.0
#: Renew a webhook subscription when less than this is left.
WEBHOOK_RENEWAL_MARGIN = dt.timedelta(hours=24)


def supplier_integration(user) -> OutlookCalendarIntegration | None:
    """The supplier's Outlook integration, or None when Outlook is not connected."""
    return OutlookCalendarIntegration.objects.filter(user=user).first()


def events_to_process(integration: OutlookCalendarIntegration, sync_type: str, specific_events=()) -> int:
    """How many WedSync events a run of this type is expected to look at (an estimate for the UI)."""
    if specific_events:
        return len(specific_events)
    from .sync.engine import sync_window

    start, end = sync_window()
    if sync_type == SyncType.FULL_SYNC:
        return events_in_window(integration, start, end).count()
    return unmapped_events(integration, start, end).count() + mappings_changed_in_wedsync(integration).count()


def events_in_window(integration: OutlookCalendarIntegration, start, end):
    """The supplier's live WedSync events overlapping [start, end]."""
    return CalendarEvent.objects.filter(supplier_id=integration.user_id, is_deleted=False, ends_at__gte=start, starts_at__lte=end)


def unmapped_events(integration: OutlookCalendarIntegration, start, end):
    """Live WedSync events in the window with no Outlook copy yet (an anti-join), soonest first."""
    has_copy = OutlookEventMapping.objects.filter(integration=integration, event=OuterRef("pk"))
    return events_in_window(integration, start, end).exclude(Exists(has_copy)).order_by("starts_at")


def mappings_changed_in_wedsync(integration: OutlookCalendarIntegration):
    """Event mappings whose WedSync event changed (or vanished) since it was last synced: what a push sends.

    Resolving or clearing a conflict resets ``synced_wedsync_version`` to 0, so
    those "waiting to sync" events are included too.
    """
    return OutlookEventMapping.objects.filter(integration=integration, kind="event").filter(
        Q(event__isnull=True) | Q(event__version__gt=F("synced_wedsync_version"))
    )


def estimated_seconds(events: int) -> int:
    return max(1, math.ceil(events / EVENTS_PER_SECOND_ESTIMATE))


def sync_stats(integration: OutlookCalendarIntegration) -> dict:
    counts = OutlookEventMapping.objects.filter(integration=integration, kind="event").aggregate(
        total=Count("id"),
        conflicted=Count("id", filter=Q(sync_state=MappingState.CONFLICT)),
        errors=Count("id", filter=Q(sync_state=MappingState.ERROR)),
    )
    pending = mappings_changed_in_wedsync(integration).exclude(sync_state=MappingState.CONFLICT).count()
    last_full = (
        OutlookSyncHistory.objects.filter(integration=integration, sync_type=SyncType.FULL_SYNC, sync_status=SyncStatus.COMPLETED)
        .order_by("-completed_at").values_list("completed_at", flat=True).first()
    )
    last_any = integration.last_sync_at or timezone.now()
    return {
        "totalEvents": counts["total"],
        "syncedEvents": counts["total"] - counts["conflicted"] - counts["errors"] - pending,
        "pendingEvents": pending,
        "conflictedEvents": counts["conflicted"],
        "lastFullSync": last_full,
        "nextScheduledSync": max(last_any, timezone.now()) + dt.timedelta(minutes=settings.SAFETY_NET_SYNC_MINUTES) if integration.sync_enabled else None,
    }


def recent_history(integration: OutlookCalendarIntegration, limit: int = 10):
    return list(OutlookSyncHistory.objects.filter(integration=integration).order_by("-started_at")[:limit])


def webhook_status(integration: OutlookCalendarIntegration) -> dict:
    now = timezone.now()
    active = bool(integration.webhook_enabled and integration.webhook_subscription_id and integration.webhook_expires_at and integration.webhook_expires_at > now)
    return {
        "isActive": active,
        "subscriptionId": integration.webhook_subscription_id if active else None,
        "expiresAt": integration.webhook_expires_at if active else None,
        "renewalNeeded": bool(integration.webhook_enabled and (not active or integration.webhook_expires_at - now < WEBHOOK_RENEWAL_MARGIN)),
    }


def sync_job(integration: OutlookCalendarIntegration, sync_id) -> OutlookSyncHistory | None:
    """A run of this supplier's integration only (another supplier's id is simply not found)."""
    return OutlookSyncHistory.objects.filter(integration=integration, pk=sync_id).first()


def estimated_time_remaining(run: OutlookSyncHistory) -> int | None:
    if run.sync_status != SyncStatus.IN_PROGRESS:
        return None
    left = max(0, run.total_events - run.events_processed)
    if run.events_processed and run.started_at:
        elapsed = (timezone.now() - run.started_at).total_seconds()
        return math.ceil(left * elapsed / run.events_processed)
    return estimated_seconds(left)


def mapped_events(integration: OutlookCalendarIntegration, *, event_type=None, status=None, start=None, end=None):
    """Mappings (with their WedSync events) filtered as ``GET /events`` allows, soonest first."""
    rows = OutlookEventMapping.objects.filter(integration=integration, kind="event").select_related("event").order_by("event__starts_at", "id")
    if event_type:
        rows = rows.filter(wedsync_event_type=event_type)
    if status:
        rows = rows.filter(sync_state=status)
    if start:
        rows = rows.filter(event__ends_at__gte=start)
    if end:
        rows = rows.filter(event__starts_at__lte=end)
    return rows


def busy_intervals(integration: OutlookCalendarIntegration, start: dt.datetime, end: dt.datetime):
    """Outlook-only busy time overlapping [start, end) (from the synced calendar)."""
    return OutlookBusyTime.objects.filter(integration=integration, starts_at__lt=end, ends_at__gt=start).exclude(show_as="free").order_by("starts_at")
