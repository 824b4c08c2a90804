"""The typed writes of :mod:`.types` as Graph JSON (the only place event and subscription bodies are built).

Only modules inside :mod:`outlook_sync.graph` import this (``tests/unit/test_import_arrows.py``).
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from .timezones import UTC, UnknownTimeZone, format_graph_datetime, to_windows, zone
from .types import EventFields, EventTiming, NewEvent, Reminder, SubscriptionRequest


def event_json(fields: EventFields) -> dict[str, Any]:
    """The fields that are set, in Graph's event shape (a PATCH body, or the fields part of a POST)."""
    body: dict[str, Any] = {}
    if fields.subject is not None:
        body["subject"] = fields.subject
    if fields.body_text is not None:
        body["body"] = {"contentType": "text", "content": fields.body_text}
    if fields.timing is not None:
        body.update(timing_json(fields.timing))
    if fields.location is not None:
        body["location"] = {"displayName": fields.location}
    if fields.attendees is not None:
        body["attendees"] = [{"emailAddress": {"address": a.email, "name": a.name or a.email}, "type": a.type} for a in fields.attendees]
    if fields.reminder is not None:
        body.update(reminder_json(fields.reminder))
    if fields.categories is not None:
        body["categories"] = list(fields.categories)
    if fields.show_as is not None:
        body["showAs"] = fields.show_as
    return body


def new_event_json(event: NewEvent) -> dict[str, Any]:
    """A POST body: the fields, our tag and the ``transactionId``."""
    body = event_json(event.fields)
    if event.tag is not None:
        body["singleValueExtendedProperties"] = [{"id": event.tag.id, "value": event.tag.value}]
    body["transactionId"] = event.transaction_id
    return body


def reminder_json(reminder: Reminder) -> dict[str, Any]:
    if reminder.minutes is None:
        return {"isReminderOn": False}
    return {"reminderMinutesBeforeStart": reminder.minutes, "isReminderOn": True}


def timing_json(timing: EventTiming) -> dict[str, Any]:
    """``start``/``end`` as local wall-clock times with the Windows zone name, and ``isAllDay``.

    A zone outside the CLDR table is sent as the right instant in UTC rather than failing the event.
    """
    try:
        windows, tz = to_windows(timing.time_zone), zone(timing.time_zone)
    except UnknownTimeZone:
        windows, tz = "UTC", UTC
    if timing.all_day:
        return {
            "start": {"dateTime": f"{_day(timing.start).isoformat()}T00:00:00.0000000", "timeZone": windows},
            "end": {"dateTime": f"{_day(timing.end).isoformat()}T00:00:00.0000000", "timeZone": windows},
            "isAllDay": True,
        }
    return {
        "start": {"dateTime": format_graph_datetime(timing.start.astimezone(tz)), "timeZone": windows},
        "end": {"dateTime": format_graph_datetime(timing.end.astimezone(tz)), "timeZone": windows},
        "isAllDay": False,
    }


def _day(value: dt.date | dt.datetime) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def graph_time(value: dt.datetime) -> str:
    """An instant in UTC as Graph writes it (seven fractional digits, ``Z``)."""
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def subscription_json(request: SubscriptionRequest) -> dict[str, Any]:
    return {
        "changeType": request.change_type, "notificationUrl": request.notification_url, "lifecycleNotificationUrl": request.lifecycle_url,
        "resource": request.resource, "expirationDateTime": graph_time(request.expires_at), "clientState": request.client_state,
    }


def renewal_json(expires_at: dt.datetime) -> dict[str, Any]:
    return {"expirationDateTime": graph_time(expires_at)}
