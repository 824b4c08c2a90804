"""Sync runs ("sync jobs"): one ``outlook_sync_history`` row each, with live progress.

Runs of one integration never overlap: a run waits for the integration's sync
lock, and a request for a run while another waits is answered with the waiting
run instead of adding a second one.
"""
from __future__ import annotations

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from ..models import LastSyncStatus, OutlookCalendarIntegration, OutlookSyncHistory, SyncStatus

#: Keep at most this many per-event errors on a run (the counters stay exact).
MAX_STORED_ERRORS = 200


def open_run(integration: OutlookCalendarIntegration, *, sync_type: str, direction: str | None = None, triggered_by: str = "manual", specific_event_ids=()) -> tuple[OutlookSyncHistory, bool]:
    """Create a run, or return the one already waiting. Returns ``(run, created)``.

    A new run is ``is_queued`` while another run of the integration is in progress.
    """
    with transaction.atomic():
        OutlookCalendarIntegration.objects.select_for_update().get(pk=integration.pk)  # serialise run creation per integration
        active = OutlookSyncHistory.objects.filter(integration=integration, sync_status=SyncStatus.IN_PROGRESS)
        waiting = active.filter(is_queued=True, sync_type=sync_type, specific_event_ids=list(specific_event_ids)).first()
        if waiting is not None:
            return waiting, False
        run = OutlookSyncHistory.objects.create(
            integration=integration,
            sync_type=sync_type,
            sync_direction=direction or integration.sync_direction,
            sync_status=SyncStatus.IN_PROGRESS,
            triggered_by=triggered_by,
            specific_event_ids=[str(e) for e in specific_event_ids],
            is_queued=active.exists(),
        )
    return run, True


def mark_started(run: OutlookSyncHistory, *, total_events: int) -> None:
    run.is_queued = False
    run.total_events = total_events
    run.started_at = timezone.now()
    run.save(update_fields=["is_queued", "total_events", "started_at"])


def add_progress(run: OutlookSyncHistory, *, processed=0, created=0, updated=0, deleted=0, conflicts=0, errors=0) -> None:
    """Add to the run's counters in the database (readable by the API while the run goes on)."""
    OutlookSyncHistory.objects.filter(pk=run.pk).update(
        events_processed=F("events_processed") + processed,
        events_created=F("events_created") + created,
        events_updated=F("events_updated") + updated,
        events_deleted=F("events_deleted") + deleted,
        conflicts_detected=F("conflicts_detected") + conflicts,
        error_events=F("error_events") + errors,
    )


def finish(run: OutlookSyncHistory, *, errors: list[dict], failed: bool = False, cancelled: bool = False) -> OutlookSyncHistory:
    """Close the run and record the outcome on the integration (``lastSyncStatus``)."""
    run.refresh_from_db()
    now = timezone.now()
    run.completed_at = now
    run.sync_duration_ms = int((now - run.started_at).total_seconds() * 1000)
    run.sync_errors = errors[:MAX_STORED_ERRORS]
    run.is_queued = False
    run.sync_status = SyncStatus.CANCELLED if cancelled else SyncStatus.FAILED if failed else SyncStatus.COMPLETED
    run.save(update_fields=["completed_at", "sync_duration_ms", "sync_errors", "sync_status", "is_queued"])
    if cancelled:
        return run
    status = LastSyncStatus.ERROR if failed else LastSyncStatus.PARTIAL if errors else LastSyncStatus.SUCCESS
    OutlookCalendarIntegration.objects.filter(pk=run.integration_id).update(
        last_sync_at=now, last_sync_status=status, sync_errors=errors[:20], updated_at=now,
    )
    return run
