"""Subscriptions (webhooks): the validation handshake, change and lifecycle notifications.

Graph validates a notification URL before accepting a subscription: it POSTs
``{url}?validationToken=<token>`` and requires ``200`` with the token verbatim
in the body within 10 seconds. Change notifications are then POSTed after
each event change in the subscribed calendar, from background tasks so the
request that made the change never waits. A receiver that fails or answers
slower than ``notification_timeout_s`` gets the same notification again
after each delay in ``notification_retry_delays_s``, for up to
``notification_retry_max_total_s`` (4 h, like Graph). Duplicates and
reordering can be switched on to exercise receivers' idempotency.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import re
import uuid
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx

from . import tz
from .errors import GraphError

if TYPE_CHECKING:
    from .app import Emulator
    from .graph_api import GReq

logger = logging.getLogger("graph_emulator.notifications")

CHANGE_TYPES = ("created", "updated", "deleted")
LIFECYCLE_EVENTS = ("reauthorizationRequired", "subscriptionRemoved", "missed")


def _graph_time(instant: dt.datetime) -> str:
    return tz.format_utc_z(instant)


class Notifier:
    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.tasks: set[asyncio.Task] = set()
        self.reorder_buffer: list[tuple[dict, dict]] = []
        self.reorder_task: asyncio.Task | None = None
        self.locks: dict[str, asyncio.Lock] = {}
        self.queues: dict[str, list[dict]] = {}  # subscription id -> notifications waiting for their first POST
        self.senders: set[str] = set()
        self._client: httpx.AsyncClient | None = None

    # --- plumbing ---
    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(verify=False, trust_env=False, follow_redirects=False)
        return self._client

    async def close(self) -> None:
        self.cancel_all()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def cancel_all(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        self.tasks.clear()
        self.reorder_buffer.clear()
        self.reorder_task = None
        self.locks.clear()
        self.queues.clear()
        self.senders.clear()

    def _spawn(self, coro) -> None:
        try:
            task = asyncio.get_running_loop().create_task(coro)
        except RuntimeError:  # no loop (e.g. unit use of the store): nothing to deliver
            coro.close()
            return
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    @property
    def store(self):
        return self.emu.store

    # --- subscriptions ---
    def live_subscriptions(self) -> list[dict]:
        now = tz.now()
        return [s for s in self.store.subscriptions.values() if tz.from_iso(s["expirationDateTime"]) > now]

    def get_subscription(self, sub_id: str) -> dict | None:
        sub = self.store.subscriptions.get(sub_id)
        if sub is None or tz.from_iso(sub["expirationDateTime"]) <= tz.now():
            return None
        return sub

    def delete_subscription(self, sub_id: str) -> None:
        self.store.subscriptions.pop(sub_id, None)
        self.locks.pop(sub_id, None)
        self.store.dirty = True

    def subscription_json(self, sub: dict) -> dict:
        return {
            "id": sub["id"],
            "resource": sub["resource"],
            "applicationId": sub["client_id"],
            "changeType": sub["changeType"],
            "clientState": sub.get("clientState"),
            "notificationUrl": sub["notificationUrl"],
            "notificationQueryOptions": None,
            "lifecycleNotificationUrl": sub.get("lifecycleNotificationUrl"),
            "expirationDateTime": _graph_time(tz.from_iso(sub["expirationDateTime"])),
            "creatorId": sub["user_id"],
            "includeResourceData": False,
            "latestSupportedTlsVersion": "v1_2",
            "encryptionCertificate": None,
            "encryptionCertificateId": None,
            "notificationUrlAppId": None,
        }

    def _resource_calendar(self, resource: str, user: dict) -> str:
        text = "/" + resource.strip().strip("/")
        m = re.match(r"^/(?:me|users/([^/]+))(/.*)$", text, re.IGNORECASE)
        bad = GraphError(400, "InvalidRequest", f"The resource '{resource}' is not supported: use me/events or me/calendars/{{id}}/events.")
        if not m:
            raise bad
        if m.group(1) and (self.store.user_by_id_or_email(m.group(1)) or {}).get("id") != user["id"]:
            raise GraphError(403, "ExtensionError", "Operation: Create; Exception: [Status Code: Forbidden; Reason: Access is denied.]")
        rest = m.group(2)
        if re.match(r"^/(calendar/)?events/?$", rest, re.IGNORECASE):
            return self.store.default_calendar(user["id"])["id"]
        mc = re.match(r"^/calendars/([^/]+)/events/?$", rest, re.IGNORECASE)
        if mc:
            calendar = self.store.calendars.get(mc.group(1))
            if calendar is None or calendar["user_id"] != user["id"]:
                raise GraphError(404, "ExtensionError", f"Operation: Create; Exception: [Status Code: NotFound; Reason: The calendar '{mc.group(1)}' was not found.]")
            return calendar["id"]
        raise bad

    def _check_url(self, name: str, url) -> None:
        """subscription.md: notificationUrl "must use the HTTPS protocol", and lifecycleNotificationUrl likewise.

        Plain http is accepted only for a loopback host, and only when the emulator was started with
        ``--allow-insecure-notification-urls`` (config ``allow_insecure_notification_urls``): a development
        convenience the project's tests and demo opt into, never Microsoft's behaviour."""
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise GraphError(400, "InvalidRequest", f"{name} must be an absolute https URL.")
        if parts.scheme.lower() == "https":
            return
        loopback = parts.hostname in ("localhost", "::1") or parts.hostname.startswith("127.")
        if loopback and self.emu.config["allow_insecure_notification_urls"]:
            return
        raise GraphError(400, "InvalidRequest", f"Invalid {name} '{url}': the URL must use the HTTPS protocol.")

    def _expiration(self, value) -> dt.datetime:
        if not isinstance(value, str):
            raise GraphError(400, "InvalidRequest", "expirationDateTime is required.")
        try:
            expires = tz.parse_query_instant(value)
        except tz.BadDateTime:
            raise GraphError(400, "InvalidRequest", f"expirationDateTime '{value}' is not a valid date-time.") from None
        now = tz.now()
        limit = now + dt.timedelta(minutes=float(self.emu.config["max_subscription_minutes"]))
        if expires <= now:
            raise GraphError(400, "InvalidRequest", "Subscription expiration must be in the future.")
        if expires > limit:
            raise GraphError(400, "InvalidRequest", f"Subscription expiration can only be {self.emu.config['max_subscription_minutes']} minutes in the future.")
        return expires

    async def create_subscription(self, req: GReq, user: dict) -> dict:
        body = req.body if isinstance(req.body, dict) else {}
        change_type = body.get("changeType")
        types = [t.strip() for t in change_type.split(",")] if isinstance(change_type, str) else []
        if not types or any(t not in CHANGE_TYPES for t in types):
            raise GraphError(400, "InvalidRequest", f"changeType '{change_type}' is not valid: use a comma-separated list of created, updated, deleted.")
        url = body.get("notificationUrl")
        self._check_url("notificationUrl", url)
        lifecycle_url = body.get("lifecycleNotificationUrl")
        if lifecycle_url is not None:
            self._check_url("lifecycleNotificationUrl", lifecycle_url)
        client_state = body.get("clientState")
        if client_state is not None and (not isinstance(client_state, str) or len(client_state) > 128):
            raise GraphError(400, "InvalidRequest", "clientState must be a string of at most 128 characters.")
        resource = body.get("resource")
        if not isinstance(resource, str) or not resource.strip():
            raise GraphError(400, "InvalidRequest", "resource is required.")
        calendar_id = self._resource_calendar(resource, user)
        expires = self._expiration(body.get("expirationDateTime"))
        await self.validate(url)
        if lifecycle_url:
            await self.validate(lifecycle_url)
        sub = {
            "id": str(uuid.uuid4()),
            "user_id": user["id"],
            "tenant_id": user["tenantId"],
            "client_id": req.client_id,
            "resource": resource,
            "calendar_id": calendar_id,
            "changeType": ",".join(types),
            "notificationUrl": url,
            "lifecycleNotificationUrl": lifecycle_url,
            "clientState": client_state,
            "expirationDateTime": tz.iso(expires),
            "reauth_notified_for": None,
        }
        self.store.subscriptions[sub["id"]] = sub
        self.store.dirty = True
        return sub

    async def update_subscription(self, req: GReq, sub: dict) -> dict:
        body = req.body if isinstance(req.body, dict) else {}
        unknown = set(body) - {"expirationDateTime", "notificationUrl", "@odata.type"}
        if unknown:
            raise GraphError(400, "InvalidRequest", f"Only expirationDateTime and notificationUrl can be updated, not {', '.join(sorted(unknown))}.")
        changes: dict = {}
        if "expirationDateTime" in body:
            changes["expirationDateTime"] = tz.iso(self._expiration(body["expirationDateTime"]))
        url = body.get("notificationUrl")
        if url is not None and url != sub["notificationUrl"]:
            self._check_url("notificationUrl", url)
            await self.validate(url)
            changes["notificationUrl"] = url
        sub.update(changes)
        if "expirationDateTime" in changes:
            sub["reauth_notified_for"] = None
        self.store.dirty = True
        return sub

    def reauthorize(self, sub: dict) -> None:
        """subscription-reauthorize.md: answer 204 to a reauthorizationRequired challenge; a later
        reauthorizationRequired is sent again for the same expiry only after a new challenge."""
        sub["reauthorized_at"] = tz.iso(tz.now())
        self.store.dirty = True

    async def validate(self, url: str) -> None:
        """The handshake: POST ?validationToken=..., expect 200 and the token verbatim within the timeout."""
        token = f"Validation: Testing client application reachability for subscription Request-Id: {uuid.uuid4()}"
        self.emu.stats.validations += 1
        timeout = float(self.emu.config["validation_timeout_s"])
        reason = ""
        try:
            response = await asyncio.wait_for(
                self.client.post(url, params={"validationToken": token}, headers={"Content-Type": "text/plain; charset=utf-8"},
                                 content=b"", timeout=timeout),
                timeout,
            )
            if response.status_code != 200:
                reason = f"the endpoint answered {response.status_code}"
            elif not response.headers.get("content-type", "").lower().startswith("text/plain"):
                # change-notifications-delivery-webhooks.md: respond with "200 OK status code", "content type
                # text/plain" and the URL-decoded validation token as the body.
                reason = f"the response's Content-Type was {response.headers.get('content-type') or 'missing'}, not text/plain"
            elif response.text != token:
                reason = "the response body did not contain the validation token verbatim"
        except (httpx.TimeoutException, asyncio.TimeoutError):
            reason = f"no response within {timeout:g} seconds"
        except httpx.HTTPError as exc:
            reason = f"{type(exc).__name__}: {exc}"
        if reason:
            raise GraphError(400, "ValidationError", f"Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request. ({url}: {reason})")

    # --- change notifications ---
    def event_changed(self, event: dict, change_type: str) -> None:
        """Store hook: called synchronously after every event write (Graph API or control API)."""
        now = tz.now()
        user = self.store.users.get(event["user_id"])
        if user is None:
            return
        for sub in list(self.store.subscriptions.values()):
            if sub["user_id"] != event["user_id"] or sub["calendar_id"] != event["calendar_id"]:
                continue
            if change_type not in sub["changeType"].split(",") or tz.from_iso(sub["expirationDateTime"]) <= now:
                continue
            resource = f"Users/{user['id']}/Events/{event['id']}"
            notification = {
                "subscriptionId": sub["id"],
                "subscriptionExpirationDateTime": _graph_time(tz.from_iso(sub["expirationDateTime"])),
                "changeType": change_type,
                "resource": resource,
                "resourceData": {
                    "@odata.type": "#Microsoft.Graph.Event",
                    "@odata.id": resource,
                    "@odata.etag": f'W/"{event["changeKey"]}"',
                    "id": event["id"],
                },
                "clientState": sub.get("clientState"),
                "tenantId": sub["tenant_id"],
            }
            batch = [notification]
            if change_type == "created" and "updated" in sub["changeType"].split(","):
                # As observed on Outlook: creating an event also sends an `updated` notification for it.
                batch.append({**notification, "changeType": "updated"})
            copies = 2 if self.emu.config["duplicate_notifications"] else 1
            for item in batch:
                for _ in range(copies):
                    if self.emu.config["reorder_notifications"]:
                        self._buffer(sub, item)
                    else:
                        self._enqueue(sub, item)

    def _enqueue(self, sub: dict, notification: dict) -> None:
        """Queue a notification; one sender per subscription POSTs whatever is queued together
        (change-notifications-delivery-webhooks.md: a POST's `value` may hold several notifications)."""
        queue = self.queues.setdefault(sub["id"], [])
        queue.append(notification)
        if sub["id"] not in self.senders:
            self.senders.add(sub["id"])
            self._spawn(self._send_queued(sub["id"], sub["notificationUrl"]))

    async def _send_queued(self, sub_id: str, url: str) -> None:
        try:
            while self.queues.get(sub_id):
                await asyncio.sleep(float(self.emu.config["notification_batch_window_s"]))
                queue = self.queues.get(sub_id) or []
                limit = int(self.emu.config["notifications_per_post"])
                batch, self.queues[sub_id] = queue[:limit], queue[limit:]
                if batch:
                    await self._deliver(sub_id, url, {"value": batch}, lifecycle=False, first_only=True)
        finally:
            self.senders.discard(sub_id)

    def _buffer(self, sub: dict, notification: dict) -> None:
        self.reorder_buffer.append((sub, notification))
        if self.reorder_task is None:
            self._spawn(self._flush_reordered())
            self.reorder_task = True  # type: ignore[assignment]

    async def _flush_reordered(self) -> None:
        await asyncio.sleep(float(self.emu.config["reorder_window_s"]))
        batch, self.reorder_buffer = self.reorder_buffer, []
        self.reorder_task = None
        random.shuffle(batch)
        for sub, notification in batch:
            self._spawn(self._deliver(sub["id"], sub["notificationUrl"], {"value": [notification]}, lifecycle=False))

    async def _attempt(self, url: str, payload: dict, lifecycle: bool) -> bool:
        stats = self.emu.stats.notifications
        if not lifecycle:
            stats["attempts"] += 1
        ok = False
        try:
            timeout = float(self.emu.config["notification_timeout_s"])
            response = await asyncio.wait_for(self.client.post(url, json=payload, timeout=timeout), timeout)
            ok = 200 <= response.status_code < 300
        except asyncio.TimeoutError:
            logger.info("notification to %s timed out", url)
        except httpx.HTTPError as exc:
            logger.info("notification to %s failed: %s", url, type(exc).__name__)
        if ok:
            # delivered counts notifications (a POST may carry several); attempts and failed count POSTs.
            stats["lifecycle_delivered" if lifecycle else "delivered"] += 1 if lifecycle else len(payload.get("value") or [])
        elif not lifecycle:
            stats["failed"] += 1
        return ok

    async def _deliver(self, sub_id: str, url: str, payload: dict, *, lifecycle: bool, first_only: bool = False) -> None:
        """POST with retries; stop when delivered, the subscription is gone/expired, or 4 h have passed.

        First attempts for one subscription go out one at a time in the order the changes
        happened (a per-subscription FIFO lock), so a healthy receiver sees changes in order;
        retries run on their own and never hold up later notifications.
        """
        lock = self.locks.setdefault(("lifecycle:" if lifecycle else "") + sub_id, asyncio.Lock())
        async with lock:
            if not lifecycle and self.get_subscription(sub_id) is None:
                return
            if await self._attempt(url, payload, lifecycle):
                return
        if first_only:  # the queue's sender goes on with later notifications; retries run on their own
            self._spawn(self._retry(sub_id, url, payload, lifecycle))
            return
        await self._retry(sub_id, url, payload, lifecycle)

    async def _retry(self, sub_id: str, url: str, payload: dict, lifecycle: bool) -> None:
        """change-notifications-delivery-webhooks.md: a failed or slow (over 3 s) delivery is retried with
        back-off for up to 4 hours, then dropped; a dropped change notification raises a `missed` lifecycle
        event (change-notifications-lifecycle-events.md) when the subscription has a lifecycle URL."""
        delays = list(self.emu.config["notification_retry_delays_s"]) or [1]
        budget = float(self.emu.config["notification_retry_max_total_s"])
        waited = 0.0
        attempt = 1
        while True:
            delay = float(delays[min(attempt - 1, len(delays) - 1)])
            if waited + delay > budget:
                logger.info("notification to %s dropped after %d attempts", url, attempt)
                if not lifecycle:
                    self.emu.stats.notifications["dropped"] = self.emu.stats.notifications.get("dropped", 0) + len(payload.get("value") or [])
                    sub = self.get_subscription(sub_id)
                    if sub is not None and sub.get("lifecycleNotificationUrl"):
                        self.lifecycle(sub_id, "missed")
                return
            await asyncio.sleep(delay)
            waited += delay
            if not lifecycle and self.get_subscription(sub_id) is None:
                return
            attempt += 1
            if await self._attempt(url, payload, lifecycle):
                return

    # --- lifecycle notifications ---
    def lifecycle(self, sub_id: str, event: str) -> dict:
        if event not in LIFECYCLE_EVENTS:
            raise GraphError(400, "InvalidRequest", f"lifecycle event must be one of {', '.join(LIFECYCLE_EVENTS)}.")
        sub = self.store.subscriptions.get(sub_id)
        if sub is None:
            raise GraphError(404, "ResourceNotFound", f"Subscription '{sub_id}' does not exist.")
        url = sub.get("lifecycleNotificationUrl")
        if not url:
            raise GraphError(400, "InvalidRequest", "This subscription has no lifecycleNotificationUrl.")
        payload = {"value": [{
            "subscriptionId": sub["id"],
            "subscriptionExpirationDateTime": _graph_time(tz.from_iso(sub["expirationDateTime"])),
            "tenantId": sub["tenant_id"],
            "clientState": sub.get("clientState"),
            "lifecycleEvent": event,
            "organizationId": sub["tenant_id"],
        }]}
        if event == "subscriptionRemoved":
            self.delete_subscription(sub_id)
        self._spawn(self._deliver(sub_id, url, payload, lifecycle=True))
        return payload

    async def reauthorization_loop(self) -> None:
        """Send reauthorizationRequired once per expiry when a subscription gets within ``reauthorization_notice_s``."""
        while True:
            await asyncio.sleep(1.0)
            notice = self.emu.config.get("reauthorization_notice_s")
            if notice is None:
                continue
            now = tz.now()
            for sub in list(self.store.subscriptions.values()):
                expires = tz.from_iso(sub["expirationDateTime"])
                if not sub.get("lifecycleNotificationUrl") or expires <= now or sub.get("reauth_notified_for") == sub["expirationDateTime"]:
                    continue
                if (expires - now).total_seconds() <= float(notice):
                    sub["reauth_notified_for"] = sub["expirationDateTime"]
                    try:
                        self.lifecycle(sub["id"], "reauthorizationRequired")
                    except GraphError:
                        pass
