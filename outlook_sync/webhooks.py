"""The receiving endpoint of change notifications from Microsoft Graph (it stores and enqueues only).

Receiving follows Graph's rules: answer the validation handshake with the
token as text/plain; otherwise verify each notification's ``clientState`` in
constant time against the subscription it names, store it, enqueue processing
after commit, and answer 202 at once (Graph allows 3 s). No Graph calls happen
in the request. Processing is an incremental sync, so a duplicate, a late or a
reordered notification changes nothing, and a burst shares one run.

Subscriptions (create, renew, delete) are the worker's: :mod:`outlook_sync.subscriptions`.
"""
from __future__ import annotations

import hmac
import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from wedsync.api_errors import error_body

from . import tasks
from .graph.types import ChangeNotification, parse_notifications
from .models import OutlookCalendarIntegration, OutlookNotification
from .sync import runs

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_000_000


# --- receiving ---
def _validation_answer(request: HttpRequest) -> HttpResponse | None:
    token = request.GET.get("validationToken")
    if token is None:
        return None
    return HttpResponse(token, content_type="text/plain; charset=utf-8", status=200)


def _notifications(request: HttpRequest) -> list[ChangeNotification] | None:
    if len(request.body) > MAX_BODY_BYTES:
        return None
    return parse_notifications(request.body)


def _verified(items: list[ChangeNotification], integrations=None) -> list[tuple[OutlookCalendarIntegration, ChangeNotification]]:
    """Notifications whose subscription we know and whose clientState matches it (constant-time compare).

    ``integrations``: the queryset to look the subscriptions up in (one query for the whole batch).
    """
    ids = {item.subscription_id for item in items}
    integrations = OutlookCalendarIntegration.objects.all() if integrations is None else integrations
    integrations = {i.webhook_subscription_id: i for i in integrations.filter(webhook_subscription_id__in=ids)}
    accepted = []
    for item in items:
        integration = integrations.get(item.subscription_id)
        if integration is None or not hmac.compare_digest(item.client_state.encode(), integration.webhook_client_state.encode()):
            continue
        accepted.append((integration, item))
    return accepted


def _count_refused(refused: int) -> None:
    """Count refused notifications; log once per interval (a flood of forgeries is one line, not one each).

    The count lives in the cache, shared by every web process. The first
    refusal of an interval logs, with the total of the interval before it.
    """
    if refused <= 0:
        return
    interval = max(1, int(settings.WEBHOOK_REFUSED_LOG_INTERVAL_SECONDS))
    bucket = int(time.time() // interval)
    key = f"outlook-webhook-refused:{bucket}"
    try:
        cache.add(key, 0, timeout=interval * 3)
        cache.incr(key, refused)
        first_of_interval = cache.add(f"{key}:logged", 1, timeout=interval * 3)
        previous = cache.get(f"outlook-webhook-refused:{bucket - 1}") or 0
    except Exception:  # noqa: BLE001  (the cache is down: still log, never fail Microsoft's request)
        logger.warning("Refused %d webhook notification(s): unknown subscription or wrong clientState", refused)
        return
    if first_of_interval:
        logger.warning("Refused webhook notifications (unknown subscription or wrong clientState): %d now; %d in the previous %d s",
                       refused, previous, interval)


def _refused(rejected: int) -> JsonResponse:
    _count_refused(rejected)
    return JsonResponse(error_body("invalid_notification", "Unknown subscription or wrong client state."), status=403)


def _checked(request: HttpRequest, integrations=None) -> HttpResponse | list[tuple[OutlookCalendarIntegration, ChangeNotification]]:
    """The validation answer, a refusal, or the notifications that passed verification."""
    answer = _validation_answer(request)
    if answer is not None:
        return answer
    items = _notifications(request)
    if items is None:
        return JsonResponse(error_body("invalid_notification", "The notification body isn't valid JSON with a 'value' list."), status=400)
    accepted = _verified(items, integrations)
    if accepted:
        _count_refused(len(items) - len(accepted))
    return accepted or _refused(len(items))


def _enqueue_after_commit(integrations: list[OutlookCalendarIntegration]) -> None:
    """Hand the integrations to a worker after commit, in the request (no thread per request).

    Only integrations with no run waiting to read Outlook get here (a burst shares one queued run), so this
    is one run recorded and one broker message per integration, and nothing at all while a run waits; if
    the broker is down the notifications stay stored and the safety-net sync reads them.
    """
    def publish():
        for integration in integrations:
            try:
                tasks.schedule_notification_run(integration)
            except Exception:  # noqa: BLE001  (stored; the safety-net sync picks it up)
                logger.exception("Could not enqueue notification processing for %s; the periodic sync will catch up", integration.pk)

    transaction.on_commit(publish)


@csrf_exempt
@require_POST
def receive_notifications(request: HttpRequest) -> HttpResponse:
    """``POST /api/calendar/outlook/webhook``: validate, verify, store, enqueue, 202.

    The common case under load, a run already waiting to read Outlook, costs the subscription lookup and
    the stored rows and nothing else: the lookup also says, per integration, whether such a run waits
    (``run_waiting``). The notifications carry the time they arrived, before that lookup: a run seen waiting
    had not begun then, so it reads the change and, when it ends, counts them processed (``runs.finish``).
    """
    arrived = timezone.now()
    waiting = runs.waiting_to_read_outlook().filter(integration=OuterRef("pk"))
    accepted = _checked(request, OutlookCalendarIntegration.objects.annotate(run_waiting=Exists(waiting)))
    if isinstance(accepted, HttpResponse):
        return accepted
    with transaction.atomic():
        OutlookNotification.objects.bulk_create([
            OutlookNotification(
                integration=integration, subscription_id=item.subscription_id, change_type=item.change_type[:32],
                outlook_event_id=item.event_id[:255], received_at=arrived,
            )
            for integration, item in accepted
        ])
        to_schedule = {integration.pk: integration for integration, _ in accepted if not integration.run_waiting}
        if to_schedule:
            _enqueue_after_commit(list(to_schedule.values()))
    return HttpResponse(status=202)


@csrf_exempt
@require_POST
def receive_lifecycle(request: HttpRequest) -> HttpResponse:
    """``POST /api/calendar/outlook/webhook/lifecycle``: reauthorizationRequired / subscriptionRemoved / missed."""
    accepted = _checked(request)
    if isinstance(accepted, HttpResponse):
        return accepted
    with transaction.atomic():
        for integration, item in accepted:
            event = item.lifecycle_event[:64]
            OutlookNotification.objects.create(integration=integration, subscription_id=item.subscription_id, lifecycle_event=event)
            integration_id = integration.pk
            transaction.on_commit(lambda i=integration_id, e=event: tasks.enqueue(tasks.handle_lifecycle_event, i, e))
    return HttpResponse(status=202)
