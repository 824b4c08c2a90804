"""Change notifications from Microsoft Graph: subscriptions, and the receiving endpoint.

Receiving follows Graph's rules: answer the validation handshake with the
token as text/plain; otherwise verify each notification's ``clientState`` in
constant time against the subscription it names, store it, enqueue processing
after commit, and answer 202 at once (Graph allows 3 s). No Graph calls happen
in the request. Processing is an incremental sync, so a duplicate, a late or a
reordered notification changes nothing, and a burst shares one run.

Subscriptions are kept alive by beat (:func:`outlook_sync.tasks.maintain_subscriptions`)
well before they lapse, recreated when Microsoft removes them, and deleted on
disconnect or when the supplier switches real-time updates off.
"""
from __future__ import annotations

import datetime as dt
import hmac
import json
import logging
import threading

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from wedsync.api_errors import error_body

from .graph.client import GraphClient
from .graph.errors import NotFoundError
from .models import OutlookCalendarIntegration, OutlookNotification

logger = logging.getLogger(__name__)

#: Graph's maximum lifetime of a subscription to Outlook events (7 days); we ask for a bit less.
SUBSCRIPTION_LIFETIME = dt.timedelta(minutes=10080) - dt.timedelta(hours=1)
#: Renew when less than this is left (beat runs hourly, so there are many chances before it lapses).
RENEW_WHEN_LEFT = dt.timedelta(days=2)
MAX_BODY_BYTES = 1_000_000


def can_subscribe(integration: OutlookCalendarIntegration) -> bool:
    return bool(
        settings.WEBHOOK_PUBLIC_BASE_URL and integration.webhook_enabled and integration.sync_enabled
        and integration.calendar_id and not integration.needs_reauthorization
    )


def _urls() -> tuple[str, str]:
    base = settings.WEBHOOK_PUBLIC_BASE_URL
    return f"{base}{reverse('outlook-webhook')}", f"{base}{reverse('outlook-webhook-lifecycle')}"


def subscribe(client: GraphClient, integration: OutlookCalendarIntegration) -> None:
    """Create the subscription on the synced calendar's events (Graph validates our endpoint first)."""
    notification_url, lifecycle_url = _urls()
    expires = timezone.now() + SUBSCRIPTION_LIFETIME
    response = client.post("/subscriptions", json={
        "changeType": "created,updated,deleted",
        "notificationUrl": notification_url,
        "lifecycleNotificationUrl": lifecycle_url,
        "resource": f"/me/calendars/{integration.calendar_id}/events",
        "expirationDateTime": expires.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.0000000Z"),
        "clientState": integration.webhook_client_state,
    }, retry_safe=False)
    body = response.body or {}
    OutlookCalendarIntegration.objects.filter(pk=integration.pk).update(
        webhook_subscription_id=body.get("id"), webhook_expires_at=_parse(body.get("expirationDateTime")) or expires,
    )
    integration.refresh_from_db(fields=["webhook_subscription_id", "webhook_expires_at"])
    logger.info("Subscribed to Outlook changes for integration %s until %s", integration.pk, integration.webhook_expires_at)


def renew(client: GraphClient, integration: OutlookCalendarIntegration) -> None:
    """Extend the subscription; if Microsoft no longer has it, make a new one."""
    if not integration.webhook_subscription_id:
        return subscribe(client, integration)
    expires = timezone.now() + SUBSCRIPTION_LIFETIME
    try:
        response = client.patch(f"/subscriptions/{integration.webhook_subscription_id}", json={
            "expirationDateTime": expires.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.0000000Z"),
        })
    except NotFoundError:
        return subscribe(client, integration)
    OutlookCalendarIntegration.objects.filter(pk=integration.pk).update(webhook_expires_at=_parse((response.body or {}).get("expirationDateTime")) or expires)


def unsubscribe(client: GraphClient, integration: OutlookCalendarIntegration) -> bool:
    """Delete the subscription (already gone counts as done)."""
    if not integration.webhook_subscription_id:
        return False
    try:
        client.delete(f"/subscriptions/{integration.webhook_subscription_id}")
    except NotFoundError:
        pass
    OutlookCalendarIntegration.objects.filter(pk=integration.pk).update(webhook_subscription_id=None, webhook_expires_at=None)
    return True


def maintain(integration: OutlookCalendarIntegration) -> str:
    """Bring the subscription in line with the settings; returns what was done (for logs and tests)."""
    client = GraphClient.for_integration(integration)
    if not can_subscribe(integration):
        if integration.webhook_subscription_id and not integration.needs_reauthorization:
            unsubscribe(client, integration)
            return "unsubscribed"
        return "nothing"
    if not integration.webhook_subscription_id or not integration.webhook_expires_at or integration.webhook_expires_at <= timezone.now():
        subscribe(client, integration)
        return "subscribed"
    if integration.webhook_expires_at - timezone.now() < RENEW_WHEN_LEFT:
        renew(client, integration)
        return "renewed"
    return "nothing"


def _parse(value: str | None):
    if not value:
        return None
    text = value.replace("Z", "+00:00")
    if "." in text:
        whole, rest = text.split(".", 1)
        digits = "".join(ch for ch in rest if ch.isdigit())[:6]
        zone = rest[len("".join(ch for ch in rest if ch.isdigit())):]
        text = f"{whole}.{digits}{zone}"
    parsed = dt.datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


# --- receiving ---
def _validation_answer(request: HttpRequest) -> HttpResponse | None:
    token = request.GET.get("validationToken")
    if token is None:
        return None
    return HttpResponse(token, content_type="text/plain; charset=utf-8", status=200)


def _notifications(request: HttpRequest) -> list[dict] | None:
    if len(request.body) > MAX_BODY_BYTES:
        return None
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return None
    items = body.get("value") if isinstance(body, dict) else None
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        return None
    return items


def _verified(items: list[dict]) -> list[tuple[OutlookCalendarIntegration, dict]]:
    """Notifications whose subscription we know and whose clientState matches it (constant-time compare)."""
    ids = {str(item.get("subscriptionId", "")) for item in items}
    integrations = {i.webhook_subscription_id: i for i in OutlookCalendarIntegration.objects.filter(webhook_subscription_id__in=ids)}
    accepted = []
    for item in items:
        integration = integrations.get(str(item.get("subscriptionId", "")))
        client_state = str(item.get("clientState", ""))
        if integration is None or not hmac.compare_digest(client_state.encode(), integration.webhook_client_state.encode()):
            continue
        accepted.append((integration, item))
    return accepted


def _refused(rejected: int) -> JsonResponse:
    logger.warning("Refused %d webhook notification(s): unknown subscription or wrong clientState", rejected)
    return JsonResponse(error_body("invalid_notification", "Unknown subscription or wrong client state."), status=403)


def _checked(request: HttpRequest) -> HttpResponse | list[tuple[OutlookCalendarIntegration, dict]]:
    """The validation answer, a refusal, or the notifications that passed verification."""
    answer = _validation_answer(request)
    if answer is not None:
        return answer
    items = _notifications(request)
    if items is None:
        return JsonResponse(error_body("invalid_notification", "The notification body isn't valid JSON with a 'value' list."), status=400)
    accepted = _verified(items)
    return accepted or _refused(len(items))


def _enqueue_after_commit(integration_ids: set) -> None:
    """Hand the integrations to a worker after commit, without making Microsoft wait for the broker."""
    from .tasks import schedule_notification_sync

    def publish():
        for integration_id in integration_ids:
            try:
                schedule_notification_sync(integration_id)
            except Exception:  # noqa: BLE001  (stored; the safety-net sync picks it up)
                logger.exception("Could not enqueue notification processing for %s; the periodic sync will catch up", integration_id)

    transaction.on_commit(lambda: threading.Thread(target=publish, daemon=True, name="webhook-enqueue").start())


@csrf_exempt
@require_POST
def receive_notifications(request: HttpRequest) -> HttpResponse:
    """``POST /api/calendar/outlook/webhook``: validate, verify, store, enqueue, 202."""
    accepted = _checked(request)
    if isinstance(accepted, HttpResponse):
        return accepted
    with transaction.atomic():
        OutlookNotification.objects.bulk_create([
            OutlookNotification(
                integration=integration, subscription_id=str(item.get("subscriptionId")), change_type=str(item.get("changeType", ""))[:32],
                outlook_event_id=str((item.get("resourceData") or {}).get("id", ""))[:255],
            )
            for integration, item in accepted
        ])
        _enqueue_after_commit({integration.pk for integration, _ in accepted})
    return HttpResponse(status=202)


@csrf_exempt
@require_POST
def receive_lifecycle(request: HttpRequest) -> HttpResponse:
    """``POST /api/calendar/outlook/webhook/lifecycle``: reauthorizationRequired / subscriptionRemoved / missed."""
    accepted = _checked(request)
    if isinstance(accepted, HttpResponse):
        return accepted
    from .tasks import enqueue, handle_lifecycle_event

    with transaction.atomic():
        for integration, item in accepted:
            event = str(item.get("lifecycleEvent", ""))[:64]
            OutlookNotification.objects.create(integration=integration, subscription_id=str(item.get("subscriptionId")), lifecycle_event=event)
            integration_id = integration.pk
            transaction.on_commit(lambda i=integration_id, e=event: enqueue(handle_lifecycle_event, i, e))
    return HttpResponse(status=202)


def handle_lifecycle(integration: OutlookCalendarIntegration, event: str) -> str:
    """Act on a lifecycle event: renew, recreate, or catch up with an incremental sync."""
    client = GraphClient.for_integration(integration)
    if event == "reauthorizationRequired":
        renew(client, integration)
        return "renewed"
    if event == "subscriptionRemoved":
        OutlookCalendarIntegration.objects.filter(pk=integration.pk).update(webhook_subscription_id=None, webhook_expires_at=None)
        integration.refresh_from_db()
        if can_subscribe(integration):
            subscribe(client, integration)
            return "resubscribed"
        return "removed"
    if event == "missed":
        from .tasks import schedule_notification_sync

        schedule_notification_sync(integration.pk)
        return "resync"
    return "ignored"

