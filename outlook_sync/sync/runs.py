"""Sync runs ("sync jobs"): one ``outlook_sync_history`` row each, with live progress.

Life of a run:

1. **queued**: the row is created when the run is requested (a manual sync,
   a push of WedSync changes, an Outlook notification, the periodic sync), so
   the API shows it from the first moment (``sync_status`` ``in_progress`` with
   ``is_queued``; the API says ``queued``). ``started_at`` is this moment and
   never changes.
2. While it waits, later requests for the same integration **join it** instead
   of adding runs: it takes the widest sync type, both directions asked for and
   the union of ``specificEvents`` (50 rapid requests make at most 2 runs: the
   one running and the one waiting).
3. **began**: a worker holding the integration's run lock takes it
   (:func:`mark_started`): ``began_at`` is set and its work is counted before it
   changes anything (``total_events``). A run cancelled while it waited
   (:func:`cancel_waiting`) is never begun; one already begun is not cancelled.
4. **finished**: completed, failed or cancelled, with its duration measured
   from ``began_at``.

Runs of one integration never overlap (the engine's run lock).
"""
from __future__ import annotations

import math
import uuid

from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Greatest
from django.utils import timezone

from ..models import (
    LastSyncStatus,
    MappingState,
    OutlookCalendarIntegration,
    OutlookEventMapping,
    OutlookNotification,
    OutlookSyncHistory,
    RunMode,
    SyncStatus,
    SyncType,
)
from .. import selectors
from . import mapping

#: Keep at most this many per-event errors on a run (the counters stay exact).
MAX_STORED_ERRORS = 200
#: A run waiting with more specific events than this becomes a run over all pending changes.
MAX_SPECIFIC_EVENTS = 500
#: Reasons whose runs never absorb other requests (a retry waits for Retry-After on purpose).
_NOT_JOINABLE = ("retry", "undo", "disconnect")  # an undo run claims its changes in the transaction that creates it; a disconnect's run is its own
_TYPE_RANK = {SyncType.SINGLE_EVENT: 1, SyncType.WEBHOOK_TRIGGERED: 2, SyncType.INCREMENTAL: 2, SyncType.FULL_SYNC: 3}


def open_run(integration: OutlookCalendarIntegration, *, sync_type: str, direction: str | None = None, triggered_by: str = "manual", specific_event_ids=(),
             mode: str = RunMode.NORMAL) -> tuple[OutlookSyncHistory, bool]:
    """Create a queued run, or let the run already waiting absorb this request. Returns ``(run, created)``."""
    direction = direction or integration.sync_direction
    specific = [str(e) for e in specific_event_ids]
    with transaction.atomic():
        OutlookCalendarIntegration.objects.select_for_update().get(pk=integration.pk)  # serialise run creation per integration
        if triggered_by not in _NOT_JOINABLE:
            waiting = (
                OutlookSyncHistory.objects.filter(integration=integration, sync_status=SyncStatus.IN_PROGRESS, is_queued=True)
                .exclude(triggered_by__in=_NOT_JOINABLE).order_by("started_at")
            )
            for run in waiting:
                if _absorb(run, sync_type=sync_type, direction=direction, triggered_by=triggered_by, specific=specific, mode=mode):
                    return run, False
        run = OutlookSyncHistory.objects.create(
            integration=integration,
            sync_type=sync_type,
            sync_direction=direction,
            sync_status=SyncStatus.IN_PROGRESS,
            triggered_by=triggered_by,
            mode=mode,
            specific_event_ids=specific,
            is_queued=True,
        )
    return run, True


def waiting_to_read_outlook():
    """Runs that will read Outlook's changes and have not begun yet (a retry is left out: it waits for Retry-After).

    A change Outlook notified before such a run begins is read by it: a burst of notifications shares one run.
    """
    return OutlookSyncHistory.objects.filter(
        sync_status=SyncStatus.IN_PROGRESS, is_queued=True, sync_type__in=[SyncType.WEBHOOK_TRIGGERED, SyncType.INCREMENTAL, SyncType.FULL_SYNC],
    ).exclude(triggered_by="retry")


def _absorb(run: OutlookSyncHistory, *, sync_type: str, direction: str, triggered_by: str, specific: list[str], mode: str) -> bool:
    """Widen the waiting ``run`` so that it also does what this request asks; False when it can't (force vs normal)."""
    forced = mode == RunMode.FORCE
    if mode != run.mode:
        return False
    if forced and direction != run.sync_direction:
        return False  # a forced run makes one direction win: two directions are two runs
    rank_new, rank_old = _TYPE_RANK.get(sync_type, 2), _TYPE_RANK.get(run.sync_type, 2)
    merged_type = run.sync_type if rank_old > rank_new else sync_type if rank_new > rank_old else run.sync_type
    if rank_new == rank_old and sync_type != run.sync_type:
        merged_type = SyncType.INCREMENTAL  # incremental and an Outlook-notification run are the same work
    if merged_type == SyncType.SINGLE_EVENT and not forced:
        # No ids means "every pending WedSync change", which covers any specific events.
        ids = [] if not specific or not run.specific_event_ids else list(dict.fromkeys([*run.specific_event_ids, *specific]))
        ids = [] if len(ids) > MAX_SPECIFIC_EVENTS else ids
    elif forced:
        ids = list(dict.fromkeys([*run.specific_event_ids, *specific]))
    else:
        ids = []
    merged_direction = run.sync_direction if run.sync_direction == direction else "bidirectional"
    # The reason is the one of the request that decided the run's kind (a full sync asked by a settings change
    # that joins a waiting push is a settings_change run).
    reason = triggered_by if rank_new > rank_old else run.triggered_by
    joined = OutlookSyncHistory.objects.filter(pk=run.pk, is_queued=True).update(
        sync_type=merged_type, sync_direction=merged_direction, specific_event_ids=ids, triggered_by=reason)
    if not joined:
        return False  # a worker began it meanwhile: this request needs a run of its own
    run.sync_type, run.sync_direction, run.specific_event_ids, run.triggered_by = merged_type, merged_direction, ids, reason
    return True


def mark_started(run: OutlookSyncHistory, *, total_events: int | None = None) -> bool:
    """A worker begins the run: no request joins it any more; its work is counted before anything changes.

    The work is counted first, from ``run`` as the caller read it (under the run lock), and written in the
    same UPDATE that begins the run, so the API never shows a begun run without its count. No lock is
    needed: a request joins a run only with ``UPDATE ... WHERE is_queued`` (see :func:`_absorb`), and a run
    is cancelled while it waits only with ``UPDATE ... WHERE is_queued`` (see :func:`cancel_waiting`);
    PostgreSQL orders both with this update of the same row, which begins only a run still in progress.
    ``run`` is then refreshed in place; if a request widened it between the caller's read and this UPDATE,
    its work is counted again. Returns False (nothing begun) when the run was finished or cancelled meanwhile.
    """
    integration = run.integration
    counted = _work_of(run)
    total = count_work(run) if total_events is None else total_events
    began = OutlookSyncHistory.objects.filter(pk=run.pk, sync_status=SyncStatus.IN_PROGRESS).update(
        is_queued=False, began_at=timezone.now(), total_events=total)
    run.refresh_from_db(fields=["is_queued", "began_at", "sync_type", "sync_direction", "specific_event_ids", "triggered_by", "mode", "sync_status"])
    run.integration = integration
    if not began:
        return False
    if total_events is None and _work_of(run) != counted:
        total = count_work(run)
        OutlookSyncHistory.objects.filter(pk=run.pk).update(total_events=total)
    run.total_events = total
    return True


def _work_of(run: OutlookSyncHistory) -> tuple:
    """What :func:`count_work` depends on in the run itself (a request joining the run may change it)."""
    return run.sync_type, run.sync_direction, run.mode, tuple(str(i) for i in run.specific_event_ids or ())


def cancel_waiting(run: OutlookSyncHistory) -> bool:
    """Cancel a run no worker has begun yet; False when a worker began it first (it then runs to its end).

    One ``UPDATE ... WHERE is_queued``: either this wins and no worker begins the run
    (:func:`mark_started`), or the worker won and the run is left alone, never shown cancelled while it
    still changes events.
    """
    now = timezone.now()
    return bool(OutlookSyncHistory.objects.filter(pk=run.pk, sync_status=SyncStatus.IN_PROGRESS, is_queued=True).update(
        sync_status=SyncStatus.CANCELLED, is_queued=False, completed_at=now, sync_duration_ms=0, sync_errors=[],
    ))


def count_work(run: OutlookSyncHistory) -> int:
    """How many events the run will process, known before it changes anything.

    - full sync: every WedSync event in scope (mapped or not; their Outlook copies are the same events,
      so Outlook's items are not counted again); the copies to remove are added by the run's first step;
    - incremental, Outlook notification: WedSync changes to push and events never synced; the Outlook
      changes are added as the delta read lists them;
    - specific events, force: those events;
    - a push of WedSync changes: the changed mapped events and the events never synced.
    """
    integration = run.integration
    pushes = run.sync_direction in ("bidirectional", "to_outlook")
    if run.mode == RunMode.FORCE:
        return len(run.specific_event_ids)
    if run.sync_type == SyncType.FULL_SYNC:
        return full_sync_work(integration, pushes=pushes)
    unmapped = selectors.unmapped_in_scope(integration) if pushes else None
    changed = selectors.mappings_changed_in_wedsync(integration).exclude(sync_state=MappingState.REMOVING)
    if run.specific_event_ids:
        ids = [str(i) for i in run.specific_event_ids]
        changed = changed.filter(wedsync_event_id__in=ids)
        unmapped = unmapped.filter(pk__in=[i for i in ids if _is_uuid(i)]) if unmapped is not None else None
    elif not pushes:
        changed = changed.none()
    return changed.count() + (unmapped.count() if unmapped is not None else 0)


def planned_total(run: OutlookSyncHistory) -> int:
    """The run's ``totalEvents``: counted when it began; while it waits, what it would count if it began now."""
    if run.sync_status == SyncStatus.IN_PROGRESS and run.is_queued:
        return count_work(run)
    return run.total_events


def full_sync_work(integration: OutlookCalendarIntegration, *, pushes: bool) -> int:
    """A full sync's events under the integration's preferences: every WedSync event in scope, mapped or not.

    Copies to remove (types switched off, another calendar) are counted by the engine's first step,
    which marks and lists them before anything else changes.
    """
    prefs = mapping.SyncPreferences.from_json(integration.sync_preferences or {})
    start, end = selectors.window()
    mappings = OutlookEventMapping.objects.filter(integration=integration, kind="event").exclude(sync_state=MappingState.REMOVING)
    in_scope = mappings.filter(outlook_calendar_id=integration.calendar_id or "").exclude(wedsync_event_type__in=selectors.types_switched_off(prefs)).filter(
        Q(event__isnull=True) | Q(event__is_deleted=True) | Q(event__ends_at__gte=start, event__starts_at__lte=end)
    ).count()
    return in_scope + (selectors.unmapped_in_scope(integration).count() if pushes else 0)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(str(value))
    except (TypeError, ValueError):
        return False
    return True


def add_progress(run: OutlookSyncHistory, *, processed=0, created=0, updated=0, deleted=0, conflicts=0, errors=0, expected=0) -> None:
    """Add to the run's counters in the database (readable by the API while the run goes on).

    ``expected``: work found on the way (e.g. the changes a delta read lists), added to ``total_events``.
    The engine counts each event once (``SyncEngine.count_row``) and adds work it meets beyond the up-front
    count to the total first; should it still process more than counted, the total grows with it (a run never
    shows more processed than it has to process).
    """
    OutlookSyncHistory.objects.filter(pk=run.pk).update(
        events_processed=F("events_processed") + processed,
        total_events=Greatest(F("total_events") + expected, F("events_processed") + processed),
        events_created=F("events_created") + created,
        events_updated=F("events_updated") + updated,
        events_deleted=F("events_deleted") + deleted,
        conflicts_detected=F("conflicts_detected") + conflicts,
        error_events=F("error_events") + errors,
    )


def finish(run: OutlookSyncHistory, *, errors: list[dict], failed: bool = False, cancelled: bool = False) -> OutlookSyncHistory:
    """Close the run and record the outcome on the integration (``lastSyncStatus``)."""
    integration = run.integration
    run.refresh_from_db()
    now = timezone.now()
    run.completed_at = now
    run.sync_duration_ms = int((now - (run.began_at or run.started_at)).total_seconds() * 1000) if run.began_at else 0
    run.sync_errors = errors[:MAX_STORED_ERRORS]
    run.is_queued = False
    run.sync_status = SyncStatus.CANCELLED if cancelled else SyncStatus.FAILED if failed else SyncStatus.COMPLETED
    run.save(update_fields=["completed_at", "sync_duration_ms", "sync_errors", "sync_status", "is_queued"])
    if cancelled:
        return run
    if (not failed and run.began_at and integration.webhook_subscription_id
            and run.sync_type in (SyncType.FULL_SYNC, SyncType.INCREMENTAL, SyncType.WEBHOOK_TRIGGERED)):
        # This run read Outlook's changes: every notification received before it began is dealt with.
        OutlookNotification.objects.filter(integration_id=run.integration_id, processed_at__isnull=True, received_at__lte=run.began_at).update(processed_at=now)
    status = LastSyncStatus.ERROR if failed else LastSyncStatus.PARTIAL if errors else LastSyncStatus.SUCCESS
    OutlookCalendarIntegration.objects.filter(pk=run.integration_id).update(
        last_sync_at=now, last_sync_status=status, sync_errors=errors[:20], updated_at=now,
    )
    return run


# --- estimates from measured throughput ---
#: Used only until the integration has finished a run that processed events (docs/BENCHMARKS.md: bulk runs
#: reach about 70 events/s; a cautious figure).
DEFAULT_EVENTS_PER_SECOND = 40.0
#: ... and the fixed cost of a run (token, delta read) until one was measured.
DEFAULT_RUN_OVERHEAD_SECONDS = 1.0
#: How many recent finished runs of the integration the estimate learns from.
THROUGHPUT_SAMPLE = 10


def throughput(integration_id) -> tuple[float, float]:
    """``(events per second, seconds of fixed cost per run)`` measured on this integration's recent runs."""
    recent = list(
        OutlookSyncHistory.objects.filter(integration_id=integration_id, sync_status=SyncStatus.COMPLETED, began_at__isnull=False, sync_duration_ms__isnull=False)
        .order_by("-completed_at").values_list("events_processed", "sync_duration_ms")[:THROUGHPUT_SAMPLE]
    )
    if not recent:
        return DEFAULT_EVENTS_PER_SECOND, DEFAULT_RUN_OVERHEAD_SECONDS
    small = [ms / 1000 for n, ms in recent if n <= 2]
    overhead = min(small) if small else min(ms / 1000 for _, ms in recent)
    overhead = max(0.05, overhead)
    busy = [(n, ms / 1000 - overhead) for n, ms in recent if n > 2 and ms / 1000 > overhead]
    if not busy:
        return DEFAULT_EVENTS_PER_SECOND, overhead
    rate = sum(n for n, _ in busy) / max(0.001, sum(s for _, s in busy))
    return max(rate, 0.1), overhead


def seconds_for(events: int, rate_and_overhead: tuple[float, float]) -> float:
    rate, overhead = rate_and_overhead
    return overhead + max(0, events) / rate


def seconds_left(run: OutlookSyncHistory, rate_and_overhead: tuple[float, float]) -> float:
    """Time until this run ends: its remaining events, plus the runs ahead of it while it waits."""
    if run.sync_status != SyncStatus.IN_PROGRESS:
        return 0.0
    if not run.is_queued:
        left = max(0, run.total_events - run.events_processed)
        return max(0.0, left / rate_and_overhead[0]) if run.events_processed else seconds_for(left, rate_and_overhead)
    ahead = OutlookSyncHistory.objects.filter(integration_id=run.integration_id, sync_status=SyncStatus.IN_PROGRESS, started_at__lt=run.started_at).exclude(pk=run.pk)
    wait = sum(seconds_left(other, rate_and_overhead) for other in ahead if not other.is_queued)
    wait += sum(seconds_for(count_work(other), rate_and_overhead) for other in ahead.select_related("integration") if other.is_queued)
    if run.retry_at is not None:  # a retry is not sent before Outlook's Retry-After
        wait = max(wait, (run.retry_at - timezone.now()).total_seconds())
    return wait + seconds_for(count_work(run), rate_and_overhead)


def waiting_retry(integration_id) -> OutlookSyncHistory | None:
    """The retry waiting for Outlook's ``Retry-After`` (the page's "we'll try again at ..."), if any."""
    return (OutlookSyncHistory.objects.filter(integration_id=integration_id, sync_status=SyncStatus.IN_PROGRESS, is_queued=True, retry_at__isnull=False)
            .order_by("retry_at").first())


def estimate_seconds(run: OutlookSyncHistory) -> int:
    """Whole seconds (at least 1) until the run ends, from this integration's measured throughput."""
    return max(1, math.ceil(seconds_left(run, throughput(run.integration_id))))


def queued_behind(run: OutlookSyncHistory) -> bool:
    """Whether another run of the integration is ahead of this one (running, or waiting longer)."""
    return OutlookSyncHistory.objects.filter(integration_id=run.integration_id, sync_status=SyncStatus.IN_PROGRESS, started_at__lt=run.started_at).exclude(pk=run.pk).exists()



def estimated_time_remaining(run: OutlookSyncHistory) -> int | None:
    """Seconds until the run ends (from this integration's measured throughput), None once it ended."""
    if run.sync_status != SyncStatus.IN_PROGRESS:
        return None
    return estimate_seconds(run)
