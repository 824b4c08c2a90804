"""Typed Graph subscription calls: create, renew, delete, list (no raw dicts past this module).

``POST /subscriptions`` is not idempotent: a create that Graph may have carried
out (a 5xx or a dropped connection) is never sent again blindly; the live
subscriptions are listed first and ours (same resource and notification URL) is
taken if it exists.
"""
from __future__ import annotations

import datetime as dt
import logging

from .client import GraphClient
from .errors import GraphConnectionError, GraphError, NotFoundError
from .types import Subscription, SubscriptionRequest
from .wire import renewal_json, subscription_json

__all__ = ["Subscription", "SubscriptionRequest", "create", "delete", "find", "reauthorize", "renew"]

logger = logging.getLogger(__name__)


def create(client: GraphClient, request: SubscriptionRequest) -> Subscription:
    body = subscription_json(request)
    try:
        return Subscription.from_json(client.post("/subscriptions", json=body, retry_safe=False).body or {})
    except GraphError as exc:
        if not (isinstance(exc, GraphConnectionError) or (exc.status or 0) >= 500):
            raise
        existing = find(client, request)
        if existing is not None:
            logger.info("Subscription create answered %s but Graph made it: using %s", exc.status or "no answer", existing.id)
            return existing
        return Subscription.from_json(client.post("/subscriptions", json=body, retry_safe=False).body or {})


def find(client: GraphClient, request: SubscriptionRequest) -> Subscription | None:
    """Our live subscription for this resource and URL, if Graph has one."""
    for page in client.pages("/subscriptions"):
        for item in page.get("value", []):
            sub = Subscription.from_json(item)
            if sub.resource.lower().lstrip("/") == request.resource.lower().lstrip("/") and sub.notification_url == request.notification_url:
                return sub
    return None


def renew(client: GraphClient, subscription_id: str, expires_at: dt.datetime) -> Subscription:
    """Extend; :class:`~.errors.NotFoundError` when Microsoft no longer has it."""
    return Subscription.from_json(client.patch(f"/subscriptions/{subscription_id}", json=renewal_json(expires_at)).body or {})


def reauthorize(client: GraphClient, subscription_id: str) -> None:
    """Answer ``reauthorizationRequired`` (``POST /subscriptions/{id}/reauthorize``, Graph's subscription-reauthorize; 204)."""
    client.post(f"/subscriptions/{subscription_id}/reauthorize", retry_safe=True)


def delete(client: GraphClient, subscription_id: str) -> None:
    """Delete (already gone counts as done)."""
    try:
        client.delete(f"/subscriptions/{subscription_id}")
    except NotFoundError:
        pass

