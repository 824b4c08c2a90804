"""Worker side of change notifications: create, renew, reauthorize and delete the Graph subscription.

Subscriptions are kept alive by beat (:func:`outlook_sync.tasks.maintain_subscriptions`)
well before they lapse, recreated when Microsoft removes them, and deleted on
disconnect or when the supplier switches real-time updates off. The receiving
endpoint is :mod:`outlook_sync.webhooks` (it never calls Microsoft).
"""
from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from . import tokens
from .graph import subscriptions as graph_subscriptions
from .graph.client import GraphClient
from .graph.errors import NotFoundError
from .models import ConnectionState, OutlookCalendarIntegration

logger = logging.getLogger(__name__)

#: Graph's maximum lifetime of a subscription to Outlook events (7 days); we ask for a bit less.
SUBSCRIPTION_LIFETIME = dt.timedelta(minutes=10080) - dt.timedelta(hours=1)
#: Renew when less than this is left (beat runs hourly, so there are many chances before it lapses).
RENEW_WHEN_LEFT = dt.timedelta(days=2)


def can_subscribe(integration: OutlookCalendarIntegration) -> bool:
    return bool(
        settings.WEBHOOK_PUBLIC_BASE_URL and integration.webhook_enabled and integration.sync_enabled
        and integration.calendar_id and not integration.needs_reauthorization
        and not integration.needs_setup  # the guided connect step: nothing is asked of Outlook before the supplier confirms
    )


def _request(integration: OutlookCalendarIntegration) -> graph_subscriptions.SubscriptionRequest:
    base = settings.WEBHOOK_PUBLIC_BASE_URL
    return graph_subscriptions.SubscriptionRequest(
        resource=f"/me/calendars/{integration.calendar_id}/events",
        notification_url=f"{base}{reverse('outlook-webhook')}", lifecycle_url=f"{base}{reverse('outlook-webhook-lifecycle')}",
        client_state=integration.webhook_client_state, expires_at=timezone.now() + SUBSCRIPTION_LIFETIME,
    )


def subscribe(client: GraphClient, integration: OutlookCalendarIntegration) -> None:
    """Create the subscription on the synced calendar's events (Graph validates our endpoint first)."""
    request = _request(integration)
    sub = graph_subscriptions.create(client, request)
    OutlookCalendarIntegration.objects.filter(pk=integration.pk).update(webhook_subscription_id=sub.id, webhook_expires_at=sub.expires_at or request.expires_at,
                                                                        webhook_calendar_id=integration.calendar_id)
    integration.refresh_from_db(fields=["webhook_subscription_id", "webhook_expires_at", "webhook_calendar_id"])
    logger.info("Subscribed to Outlook changes for integration %s until %s", integration.pk, integration.webhook_expires_at)


def renew(client: GraphClient, integration: OutlookCalendarIntegration) -> None:
    """Extend the subscription; if Microsoft no longer has it, make a new one."""
    if not integration.webhook_subscription_id:
        return subscribe(client, integration)
    expires = timezone.now() + SUBSCRIPTION_LIFETIME
    try:
        sub = graph_subscriptions.renew(client, integration.webhook_subscription_id, expires)
    except NotFoundError:
        return subscribe(client, integration)
    OutlookCalendarIntegration.objects.filter(pk=integration.pk).update(webhook_expires_at=sub.expires_at or expires)


def unsubscribe(client: GraphClient, integration: OutlookCalendarIntegration) -> bool:
    """Delete the subscription (already gone counts as done)."""
    if not integration.webhook_subscription_id:
        return False
    graph_subscriptions.delete(client, integration.webhook_subscription_id)
    OutlookCalendarIntegration.objects.filter(pk=integration.pk).update(webhook_subscription_id=None, webhook_expires_at=None, webhook_calendar_id=None)
    integration.webhook_subscription_id = integration.webhook_expires_at = integration.webhook_calendar_id = None
    return True


def maintain(integration: OutlookCalendarIntegration) -> str:
    """Bring the subscription in line with the settings; returns what was done (for logs and tests)."""
    client = tokens.graph_client(integration)
    if not can_subscribe(integration):
        if integration.webhook_subscription_id and not integration.needs_reauthorization:
            unsubscribe(client, integration)
            return "unsubscribed"
        return "nothing"
    if integration.webhook_subscription_id and integration.webhook_calendar_id != integration.calendar_id:
        # The supplier switched calendars (or undid a switch): a subscription watches one calendar's events, so the
        # old one would keep reporting the calendar WedSync no longer syncs and nothing of the new one.
        unsubscribe(client, integration)
        subscribe(client, integration)
        return "resubscribed"
    if not integration.webhook_subscription_id or not integration.webhook_expires_at or integration.webhook_expires_at <= timezone.now():
        subscribe(client, integration)
        return "subscribed"
    if integration.webhook_expires_at - timezone.now() < RENEW_WHEN_LEFT:
        renew(client, integration)
        return "renewed"
    return "nothing"


def due_for_upkeep(now: dt.datetime):
    """Integrations whose subscription :func:`maintain` would change now (one query, for the hourly sweep).

    Wanted but missing, lapsing within ``RENEW_WHEN_LEFT`` or watching another calendar than the synced one, or
    present but no longer wanted; never one that
    needs a reconnect, that Outlook throttled or that is being disconnected (the disconnect deletes its
    subscription). Everything else costs the sweep nothing.
    """
    has_one = Q(webhook_subscription_id__isnull=False) & ~Q(webhook_subscription_id="")
    if settings.WEBHOOK_PUBLIC_BASE_URL:
        wanted = Q(webhook_enabled=True, sync_enabled=True, needs_setup=False, calendar_id__isnull=False) & ~Q(calendar_id="")
        lapsing = ~has_one | Q(webhook_expires_at__isnull=True) | Q(webhook_expires_at__lt=now + RENEW_WHEN_LEFT)
        stale = ~Q(webhook_calendar_id=F("calendar_id"))  # watches another calendar than the synced one (or we don't know which)
        due = (wanted & (lapsing | stale)) | (~wanted & has_one)
    else:
        due = has_one
    return (OutlookCalendarIntegration.objects.filter(needs_reauthorization=False, connection_state=ConnectionState.CONNECTED)
            .exclude(throttled_until__gt=now).filter(due))


def handle_lifecycle(integration: OutlookCalendarIntegration, event: str) -> str:
    """Act on a lifecycle event: renew, recreate, or ``"resync"`` (the task then runs an incremental sync)."""
    client = tokens.graph_client(integration)
    if event == "reauthorizationRequired":
        if integration.webhook_subscription_id:
            try:
                graph_subscriptions.reauthorize(client, integration.webhook_subscription_id)
                renew(client, integration)
                return "renewed"
            except NotFoundError:
                pass
        subscribe(client, integration)
        return "renewed"
    if event == "subscriptionRemoved":
        OutlookCalendarIntegration.objects.filter(pk=integration.pk).update(webhook_subscription_id=None, webhook_expires_at=None)
        integration.refresh_from_db()
        if can_subscribe(integration):
            subscribe(client, integration)
            return "resubscribed"
        return "removed"
    if event == "missed":
        return "resync"
    return "ignored"
