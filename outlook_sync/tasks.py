"""Celery tasks: thin, idempotent, ids only. Each re-reads state and calls the engine or an action."""
from __future__ import annotations

import datetime as dt
import logging

from celery import current_app, shared_task
from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from wedsync import queues

from . import disconnecting, subscriptions, tokens, wording
from .graph import calendar_api
from .graph.errors import ReauthorizationRequired
from .models import (ConnectionState, DisconnectStatus, LastSyncStatus, OutlookCalendarIntegration, OutlookDisconnect, OutlookNotification,
                     OutlookSyncHistory, SyncStatus, SyncType)
from .sync import engine, runs

logger = logging.getLogger(__name__)

def enqueue(task, *args, countdown: float | None = None, queue: str | None = None) -> bool:
    """Send a task; if the broker is unreachable, log it and carry on (never fail the caller's request).

    What was not enqueued is not lost: runs stay recorded, WedSync changes stay
    pending (version above the synced one) and the periodic safety-net sync
    picks them up once the broker is back.

    ``queue``: where to send it instead of the task's own queue (``wedsync.queues``), e.g. a sync run a sweep
    started goes to the background queue. Arguments are sent as strings (ids), lists and numbers as they are.
    """
    try:
        options = {"queue": queue} if queue else {}
        task.apply_async(args=[a if isinstance(a, (list, float)) else str(a) for a in args], countdown=countdown, **options)
        return True
    except Exception:  # noqa: BLE001  (kombu/redis raise many types for an unreachable broker)
        logger.warning("Could not enqueue %s%s: broker unreachable; the periodic sync will catch up", task.name, args, exc_info=True)
        return False


@shared_task(acks_late=True, ignore_result=True)
def run_sync(run_id: str) -> None:
    """Execute one sync run (full, incremental or specific events). Safe to run twice: a finished run is skipped."""
    execute(run_id)


def execute(run_id):
    """Run one sync run; a run Outlook refused as a whole gets its one follow-up enqueued here (the engine knows no tasks)."""
    finished = engine.execute_run(run_id)
    follow_up = getattr(finished, "follow_up", None)
    if follow_up is not None:
        retry_id, delay = follow_up
        enqueue(run_sync, retry_id, countdown=delay, queue=queues.background() if finished.triggered_by == "schedule" else None)
    return finished


def schedule_push(integration_id) -> None:
    """Push WedSync changes of this integration soon: a queued run is recorded now (the API shows it as
    ``queued``), and a burst of edits shares it (a waiting run absorbs later requests, see ``runs.open_run``).

    The run counts and reads what changed only when a worker begins it, so an
    edit made after that gets a new run instead of being missed.
    """
    integration = _syncable().filter(pk=integration_id).exclude(calendar_id=None).first()
    if integration is None or integration.sync_direction == "from_outlook":
        return
    _schedule_run(integration, sync_type=SyncType.SINGLE_EVENT, triggered_by="wedsync_change", countdown=0.3)


def _syncable():
    """Integrations that sync by themselves: switched on, authorized, set up (guided step confirmed), not being disconnected."""
    return OutlookCalendarIntegration.objects.filter(sync_enabled=True, needs_reauthorization=False, needs_setup=False, connection_state=ConnectionState.CONNECTED)


def _schedule_run(integration, *, sync_type: str, triggered_by: str, countdown: float) -> None:
    """Record a queued run (or join the waiting one) and hand a new one to a worker after ``countdown``."""
    run, created = runs.open_run(integration, sync_type=sync_type, triggered_by=triggered_by)
    if created and not enqueue(run_sync, run.pk, countdown=countdown):
        runs.finish(run, errors=[{"eventId": "", "eventType": "", "errorCode": "queue_unavailable", "retryable": True,
                                  "errorMessage": "We couldn't start the sync just now. The periodic sync will catch up."}], failed=True)


@shared_task(acks_late=True, ignore_result=True)
def push_wedsync_changes(integration_id: str) -> None:
    """Send every pending WedSync change of the integration to Outlook (one run).

    Kept for messages sent before runs were recorded at scheduling time; ``schedule_push`` no longer sends it.
    """
    integration = OutlookCalendarIntegration.objects.filter(pk=integration_id, sync_enabled=True, needs_reauthorization=False, needs_setup=False).first()
    if integration is None or integration.sync_direction == "from_outlook":
        return
    run, _ = runs.open_run(integration, sync_type=SyncType.SINGLE_EVENT, triggered_by="wedsync_change")
    execute(run.pk)


# --- beat's sweeps: fanned out per integration, in chunks, spread over the period, on the background queue ---
def fan_out(task, ids, *, period_seconds: float) -> int:
    """Send ``task(id)`` for each id on the background queue, spread evenly over the period; returns how many.

    The sweep sends one :func:`fan_out_chunk` per ``FAN_OUT_CHUNK_SIZE`` ids (a 2,000-integration fleet is 20
    messages, not 2,000 timers held by a worker), each due when its first integration is; the chunk sends its
    integrations' tasks a gap apart. The gap fills ``min(period, FAN_OUT_SPREAD_SECONDS)`` but is at most
    ``FAN_OUT_MAX_GAP_SECONDS``: a small fleet is swept at once, a large one without a thundering herd at :00.
    """
    ids = [str(i) for i in ids]
    if not ids:
        return 0
    spread = min(float(period_seconds), float(settings.FAN_OUT_SPREAD_SECONDS))
    gap = min(spread / len(ids), float(settings.FAN_OUT_MAX_GAP_SECONDS))
    size = max(1, settings.FAN_OUT_CHUNK_SIZE)
    for start in range(0, len(ids), size):
        enqueue(fan_out_chunk, task.name, ids[start:start + size], gap, countdown=start * gap or None)
    return len(ids)


@shared_task(acks_late=True, ignore_result=True)
def fan_out_chunk(task_name: str, ids: list[str], gap: float) -> int:
    """One chunk of a sweep: send each integration's task ``gap`` seconds after the previous one."""
    if task_name not in _FANNED_OUT:
        logger.warning("Refused to fan out unknown task %s", task_name)
        return 0
    task = current_app.tasks[task_name]
    for n, integration_id in enumerate(ids):
        enqueue(task, integration_id, countdown=n * float(gap) or None, queue=queues.background())
    return len(ids)


def _swept(now):
    """Integrations the safety net may sync now, each annotated with ``recent_full`` (a full read in the last day).

    Left out: disabled, no calendar, needing a reconnect, not set up yet, being disconnected, throttled (Outlook asked us to wait), and synced
    successfully within ``SAFETY_NET_SKIP_RECENT_SECONDS`` unless their daily full read is due.
    """
    recent_full = OutlookSyncHistory.objects.filter(integration=OuterRef("pk"), sync_type=SyncType.FULL_SYNC, sync_status=SyncStatus.COMPLETED,
                                                    completed_at__gte=now - dt.timedelta(days=1))
    fresh = Q(last_sync_at__gte=now - dt.timedelta(seconds=settings.SAFETY_NET_SKIP_RECENT_SECONDS), last_sync_status=LastSyncStatus.SUCCESS)
    return (
        _syncable().filter(calendar_id__isnull=False)
        .exclude(throttled_until__gt=now).annotate(recent_full=Exists(recent_full)).filter(~fresh | Q(recent_full=False))
    )


@shared_task(acks_late=True, ignore_result=True)
def safety_net_sync() -> int:
    """Beat: a sync of every integration that needs one, in case a notification or push was lost (fanned out).

    One query selects them (:func:`_swept`); each gets :func:`safety_net_sync_one` on the background queue,
    spread over the period. Returns how many were sent.
    """
    ids = _swept(timezone.now()).order_by("pk").values_list("pk", flat=True)
    resend_unstarted_disconnects()
    return fan_out(safety_net_sync_one, ids, period_seconds=settings.SAFETY_NET_SYNC_MINUTES * 60)


@shared_task(acks_late=True, ignore_result=True)
def safety_net_sync_one(integration_id: str) -> bool:
    """The safety net for one integration: incremental, or full once a day; it runs in this (background) task.

    Checked again (it may have synced, or been throttled, since the sweep); a run already waiting absorbs it.
    Runs of one integration never overlap (the engine's run lock), whichever worker holds them.
    """
    integration = _swept(timezone.now()).filter(pk=integration_id).first()
    if integration is None:
        return False
    # Once a day a full read: it also finds what no delta reports (e.g. an event created and deleted between reads).
    run, created = runs.open_run(integration, sync_type=SyncType.INCREMENTAL if integration.recent_full else SyncType.FULL_SYNC, triggered_by="schedule")
    if created:
        execute(run.pk)
    return created


def resend_unstarted_disconnects() -> int:
    """Send again the task of every disconnect no worker has begun ``DISCONNECT_RESEND_AFTER_SECONDS`` after it was
    asked: its task was lost (the broker was unreachable then). A second copy is harmless: it takes the run lock."""
    waited = dt.timedelta(seconds=settings.DISCONNECT_RESEND_AFTER_SECONDS)
    stale = OutlookDisconnect.objects.filter(status=DisconnectStatus.IN_PROGRESS, attempts=0, events_removed=0,
                                             requested_at__lt=timezone.now() - waited).values_list("id", flat=True)
    return sum(1 for disconnect_id in stale if enqueue(disconnect_integration, disconnect_id))


@shared_task(acks_late=True, ignore_result=True)
def refresh_expiring_tokens() -> int:
    """Beat: refresh access tokens that expire within 15 minutes, so no sync waits for a refresh."""
    refreshed = 0
    for integration_id in tokens.integrations_due_for_refresh():
        try:
            tokens.access_token(integration_id, margin=tokens.REFRESH_AHEAD)
            refreshed += 1
        except ReauthorizationRequired:
            continue  # marked needs-reauthorization; the supplier sees it
        except Exception:  # noqa: BLE001  (one integration's outage must not stop the others)
            logger.exception("Token refresh failed for integration %s; will retry on the next beat", integration_id)
    return refreshed


@shared_task(acks_late=True, ignore_result=True)
def refresh_calendar_list(integration_id: str) -> int:
    """Read the account's calendars and cache them on the integration (the settings page reads the cache)."""
    integration = OutlookCalendarIntegration.objects.filter(pk=integration_id, needs_reauthorization=False).first()
    if integration is None:
        return 0
    try:
        calendars = calendar_api.list_calendars(tokens.graph_client(integration))
    except ReauthorizationRequired:
        return 0
    now = timezone.now()
    OutlookCalendarIntegration.objects.filter(pk=integration.pk).update(calendar_list=[wording.calendar_contract(c) for c in calendars], calendar_list_at=now)
    return len(calendars)


# --- change notifications and subscriptions ---
def schedule_notification_sync(integration_id) -> None:
    """Run one incremental sync for the notifications stored so far; a burst shares it (same scheme as pushes).

    The run's end marks the notifications received before it began as processed (``runs.finish``).
    """
    # Fast path: a run that reads Outlook and has not begun yet reads after this notification arrived, so it
    # covers it; no lock needed to know that.
    if runs.waiting_to_read_outlook().filter(integration_id=integration_id).exists():
        return
    integration = OutlookCalendarIntegration.objects.filter(pk=integration_id).first()
    if integration is not None:
        schedule_notification_run(integration)


def schedule_notification_run(integration: OutlookCalendarIntegration) -> None:
    """:func:`schedule_notification_sync` for an integration already read, seen with no run waiting to read Outlook.

    The receiver's path: it read the integration (and whether such a run waits) to verify the notifications,
    so this reads nothing again; ``runs.open_run`` still lets a run queued meanwhile absorb this one.
    """
    if (integration.sync_enabled and not integration.needs_reauthorization and not integration.needs_setup and integration.calendar_id is not None
            and integration.connection_state == ConnectionState.CONNECTED):
        _schedule_run(integration, sync_type=SyncType.WEBHOOK_TRIGGERED, triggered_by="webhook", countdown=0.2)


@shared_task(acks_late=True, ignore_result=True)
def process_notifications(integration_id: str) -> None:
    """An incremental (delta) sync covering every notification received until now.

    Kept for messages sent before runs were recorded at scheduling time; ``schedule_notification_sync`` no longer sends it.
    """
    cutoff = timezone.now()
    integration = OutlookCalendarIntegration.objects.filter(pk=integration_id, sync_enabled=True, needs_reauthorization=False, needs_setup=False).first()
    if integration is None:
        return
    run, _ = runs.open_run(integration, sync_type=SyncType.WEBHOOK_TRIGGERED, triggered_by="webhook")
    finished = execute(run.pk)
    # Only a run that completed covered these notifications; after a failed one they stay unprocessed
    # (the follow-up run or the safety-net sync reads the changes, and the count shows them waiting).
    if finished is not None and finished.sync_status == "completed":
        OutlookNotification.objects.filter(integration_id=integration_id, processed_at__isnull=True, received_at__lte=cutoff).update(processed_at=timezone.now())


@shared_task(acks_late=True, ignore_result=True)
def handle_lifecycle_event(integration_id: str, event: str) -> None:
    integration = OutlookCalendarIntegration.objects.filter(pk=integration_id, needs_reauthorization=False, connection_state=ConnectionState.CONNECTED).first()
    if integration is not None and subscriptions.handle_lifecycle(integration, event) == "resync":
        schedule_notification_sync(integration.pk)


@shared_task(acks_late=True, ignore_result=True)
def ensure_subscription(integration_id: str) -> str:
    """Create, renew or delete the integration's subscription to match its settings (idempotent)."""
    integration = OutlookCalendarIntegration.objects.filter(pk=integration_id).first()
    if integration is None:
        return "gone"
    if integration.connection_state != ConnectionState.CONNECTED:
        return "disconnecting"  # the disconnect deletes the subscription; never make a new one
    try:
        return subscriptions.maintain(integration)
    except ReauthorizationRequired:
        return "needs_reconnect"


@shared_task(acks_late=True, ignore_result=True)
def maintain_subscriptions() -> int:
    """Beat (hourly): renew subscriptions well before they lapse, recreate missing ones, delete unwanted ones.

    One query finds the integrations with something to do (:func:`subscriptions.due_for_upkeep`); each gets
    :func:`ensure_subscription` on the background queue, spread over the hour (fanned out). Returns how many.
    """
    ids = subscriptions.due_for_upkeep(timezone.now()).order_by("pk").values_list("pk", flat=True)
    return fan_out(ensure_subscription, ids, period_seconds=3600)


#: The tasks a sweep fans out (fan_out_chunk sends no other).
_FANNED_OUT = frozenset({"outlook_sync.tasks.safety_net_sync_one", "outlook_sync.tasks.ensure_subscription"})


# --- disconnect ---
@shared_task(acks_late=True, ignore_result=True)
def disconnect_integration(disconnect_id: str) -> str:
    """Carry out a disconnect the supplier asked for (:mod:`outlook_sync.disconnecting`); throttled or unreachable: again later."""
    delay = disconnecting.advance(disconnect_id)
    if delay is None:
        return "finished"
    enqueue(disconnect_integration, disconnect_id, countdown=delay)
    return "waiting"


@shared_task(acks_late=True, ignore_result=True)
def prune_change_journal() -> int:
    """Beat (daily): forget journal entries older than ``OUTLOOK_SYNC_JOURNAL_RETENTION_DAYS`` (they can no longer be undone)."""
    from .sync import journal

    return journal.prune()
