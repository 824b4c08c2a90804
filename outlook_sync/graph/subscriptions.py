"""Typed Graph subscription calls: create, renew, delete, list (no raw dicts past this module).

``POST /subscriptions`` is not idempotent: a create that Graph may have carried
out (a 5xx or a dropped connection) is never sent again blindly; the live
subscriptions are listed first and ours (same resource and notification URL) is
taken if it exists.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from .client import GraphClient
from .errors import GraphConnectionError, GraphError, NotFoundError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SubscriptionRequest:
    resource: str
    notification_url: str
    lifecycle_url: str
    client_state: str
    expires_at: dt.datetime
    change_type: str = "created,updated,deleted"


@dataclass(frozen=True)
class Subscription:
    id: str
    resource: str
    notification_url: str
    expires_at: dt.datetime | None

    @classmethod
    def from_json(cls, data: dict) -> Subscription:
        return cls(id=str(data.get("id")), resource=str(data.get("resource") or ""), notification_url=str(data.get("notificationUrl") or ""),
                   expires_at=parse_instant(data.get("expirationDateTime")))


def _graph_time(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def create(client: GraphClient, request: SubscriptionRequest) -> Subscription:
    body = {
        "changeType": request.change_type, "notificationUrl": request.notification_url, "lifecycleNotificationUrl": request.lifecycle_url,
        "resource": request.resource, "expirationDateTime": _graph_time(request.expires_at), "clientState": request.client_state,
    }
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
    return Subscription.from_json(client.patch(f"/subscriptions/{subscription_id}", json={"expirationDateTime": _graph_time(expires_at)}).body or {})


def reauthorize(client: GraphClient, subscription_id: str) -> None:
    """Answer ``reauthorizationRequired`` (``POST /subscriptions/{id}/reauthorize``, Graph's subscription-reauthorize; 204)."""
    client.post(f"/subscriptions/{subscription_id}/reauthorize", retry_safe=True)


def delete(client: GraphClient, subscription_id: str) -> None:
    """Delete (already gone counts as done)."""
    try:
        client.delete(f"/subscriptions/{subscription_id}")
    except NotFoundError:
        pass


def parse_instant(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    text = value.replace("Z", "+00:00")
    if "." in text:
        whole, rest = text.split(".", 1)
        digits = "".join(ch for ch in rest if ch.isdigit())
        text = f"{whole}.{digits[:6]}{rest[len(digits):]}"
    parsed = dt.datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)
