"""Celery tasks: thin, idempotent, ids only. Each re-reads state and calls the engine or an action."""
from __future__ import annotations

import logging

from celery import shared_task
from django.core.cache import cache

from . import tokens
from .graph.errors import ReauthorizationRequired
from .models import OutlookCalendarIntegration, SyncType

logger = logging.getLogger(__name__)

def enqueue(task, *args, countdown: float | None = None) -> bool:
    """Send a task; if the broker is unreachable, log it and carry on (never fail the caller's request).

    What was not enqueued is not lost: runs stay recorded, WedSync changes stay
    pending (version above the synced one) and the periodic safety-net sync
    picks them up once the broker is back.
    """
    try:
        task.apply_async(args=[str(a) for a in args], countdown=countdown)
        return True
    except Exception:  # noqa: BLE001  (kombu/redis raise many types for an unreachable broker)
        logger.warning("Could not enqueue %s%s: broker unreachable; the periodic sync will catch up", task.name, args, exc_info=True)
        return False


#: Cache key set while a push of WedSync changes is waiting to run for an integration.
PUSH_SCHEDULED_KEY = "outlook-push-scheduled:{}"


@shared_task(acks_late=True, ignore_result=True)
def run_sync(run_id: str) -> None:
    """Execute one sync run (full, incremental or specific events). Safe to run twice: a finished run is skipped."""
    from .sync import engine

    engine.execute_run(run_id)


def schedule_push(integration_id) -> None:
    """Push WedSync changes of this integration soon; a burst of edits shares one push.

    The key is cleared when the push starts (before it reads what changed), so
    an edit made after that schedules another push instead of being missed.
    """
    _schedule_once(PUSH_SCHEDULED_KEY.format(integration_id), push_wedsync_changes, integration_id, countdown=0.3)


def _schedule_once(key: str, task, integration_id, *, countdown: float) -> None:
    """Enqueue ``task`` for the integration unless one is already waiting (``key`` marks it; the task clears it)."""
    try:
        first = cache.add(key, 1, timeout=300)
    except Exception:  # noqa: BLE001  (cache down: enqueue anyway, a duplicate run is harmless)
        first = True
    if first and not enqueue(task, integration_id, countdown=countdown):
        _forget(key)  # so the next change tries again


@shared_task(acks_late=True, ignore_result=True)
def push_wedsync_changes(integration_id: str) -> None:
    """Send every pending WedSync change of the integration to Outlook (one run)."""
    from .sync import engine, runs

    _forget(PUSH_SCHEDULED_KEY.format(integration_id))
    integration = OutlookCalendarIntegration.objects.filter(pk=integration_id, sync_enabled=True, needs_reauthorization=False).first()
    if integration is None or integration.sync_direction == "from_outlook":
        return
    run, _ = runs.open_run(integration, sync_type=SyncType.SINGLE_EVENT, triggered_by="wedsync_change")
    engine.execute_run(run.pk)


@shared_task(acks_late=True, ignore_result=True)
def safety_net_sync() -> int:
    """Beat: an incremental sync of every healthy integration (a full one daily), in case a notification or push was lost."""
    import datetime as dt

    from django.utils import timezone

    from .models import OutlookSyncHistory
    from .sync import runs

    started = 0
    day_ago = timezone.now() - dt.timedelta(days=1)
    for integration in OutlookCalendarIntegration.objects.filter(sync_enabled=True, needs_reauthorization=False).exclude(calendar_id=None):
        # Once a day a full read: it also finds what no delta reports (e.g. an event created and deleted between reads).
        recent_full = OutlookSyncHistory.objects.filter(integration=integration, sync_type=SyncType.FULL_SYNC, sync_status="completed", completed_at__gte=day_ago).exists()
        run, created = runs.open_run(integration, sync_type=SyncType.INCREMENTAL if recent_full else SyncType.FULL_SYNC, triggered_by="schedule")
        if created:
            enqueue(run_sync, run.pk)
            started += 1
    return started


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


# --- change notifications and subscriptions ---
NOTIFICATION_SCHEDULED_KEY = "outlook-notification-sync:{}"


def schedule_notification_sync(integration_id) -> None:
    """Run one incremental sync for the notifications stored so far; a burst shares it (same scheme as pushes)."""
    _schedule_once(NOTIFICATION_SCHEDULED_KEY.format(integration_id), process_notifications, integration_id, countdown=0.2)


@shared_task(acks_late=True, ignore_result=True)
def process_notifications(integration_id: str) -> None:
    """An incremental (delta) sync covering every notification received until now."""
    from django.utils import timezone

    from .models import OutlookNotification
    from .sync import engine, runs

    _forget(NOTIFICATION_SCHEDULED_KEY.format(integration_id))
    cutoff = timezone.now()
    integration = OutlookCalendarIntegration.objects.filter(pk=integration_id, sync_enabled=True, needs_reauthorization=False).first()
    if integration is None:
        return
    run, _ = runs.open_run(integration, sync_type=SyncType.WEBHOOK_TRIGGERED, triggered_by="webhook")
    engine.execute_run(run.pk)
    OutlookNotification.objects.filter(integration_id=integration_id, processed_at__isnull=True, received_at__lte=cutoff).update(processed_at=timezone.now())


@shared_task(acks_late=True, ignore_result=True)
def handle_lifecycle_event(integration_id: str, event: str) -> None:
    from . import webhooks

    integration = OutlookCalendarIntegration.objects.filter(pk=integration_id, needs_reauthorization=False).first()
    if integration is not None:
        webhooks.handle_lifecycle(integration, event)


@shared_task(acks_late=True, ignore_result=True)
def ensure_subscription(integration_id: str) -> str:
    """Create, renew or delete the integration's subscription to match its settings (idempotent)."""
    from . import webhooks

    integration = OutlookCalendarIntegration.objects.filter(pk=integration_id).first()
    if integration is None:
        return "gone"
    try:
        return webhooks.maintain(integration)
    except ReauthorizationRequired:
        return "needs_reconnect"


@shared_task(acks_late=True, ignore_result=True)
def maintain_subscriptions() -> int:
    """Beat: renew subscriptions well before they lapse, recreate missing ones."""
    count = 0
    for integration_id in OutlookCalendarIntegration.objects.filter(needs_reauthorization=False).values_list("id", flat=True):
        try:
            if ensure_subscription(str(integration_id)) in ("subscribed", "renewed"):
                count += 1
        except Exception:  # noqa: BLE001  (one failing account must not block the others)
            logger.exception("Subscription upkeep failed for integration %s; will retry next hour", integration_id)
    return count


def _forget(key: str) -> None:
    try:
        cache.delete(key)
    except Exception:  # noqa: BLE001  (cache down too: the key expires by itself)
        pass
