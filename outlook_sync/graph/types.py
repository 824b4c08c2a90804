"""Graph's vocabulary as frozen dataclasses: what we read (parsed at the edge) and what we write.

Nothing outside :mod:`outlook_sync.graph` sees or builds raw Graph dicts. Reads
are parsed here (``from_json``, called only inside ``graph``); writes are
described by :class:`EventFields`, :class:`NewEvent`, :class:`EventUpdate` and
:class:`SubscriptionRequest`, and turned into Graph JSON by :mod:`.wire`.

This module does no I/O and imports nothing that does, so the pure sync modules
(:mod:`outlook_sync.sync.mapping`) may build these values.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from .timezones import UnknownTimeZone, parse_graph_datetime, to_iana


@dataclass(frozen=True)
class GraphUser:
    id: str
    display_name: str
    email: str

    @classmethod
    def from_json(cls, data: dict) -> GraphUser:
        return cls(
            id=str(data["id"]),
            display_name=data.get("displayName") or "",
            email=(data.get("mail") or data.get("userPrincipalName") or "").lower(),
        )


@dataclass(frozen=True)
class GraphCalendar:
    id: str
    name: str
    color: str
    is_default: bool
    can_edit: bool
    owner_name: str
    owner_email: str

    @classmethod
    def from_json(cls, data: dict) -> GraphCalendar:
        owner = data.get("owner") or {}
        return cls(
            id=str(data["id"]),
            name=data.get("name") or "",
            color=data.get("hexColor") or data.get("color") or "auto",
            is_default=bool(data.get("isDefaultCalendar")),
            can_edit=bool(data.get("canEdit", True)),
            owner_name=owner.get("name") or "",
            owner_email=(owner.get("address") or "").lower(),
        )


@dataclass(frozen=True)
class GraphAttendee:
    email: str
    name: str = ""
    type: str = "required"


# --- writes ---
@dataclass(frozen=True)
class EventTiming:
    """When an event takes place, and the zone (IANA name) Outlook shows it in.

    Timed: ``start``/``end`` are aware datetimes. All-day: they are dates, the
    end exclusive (Graph writes midnights of those dates in the zone).
    """

    start: dt.datetime | dt.date
    end: dt.datetime | dt.date
    time_zone: str
    all_day: bool = False


@dataclass(frozen=True)
class Reminder:
    """The one reminder Outlook keeps on an event; ``minutes=None`` turns it off."""

    minutes: int | None


@dataclass(frozen=True)
class ExtendedProperty:
    """A single-value extended property (our tag: which integration made the copy, of which event)."""

    id: str
    value: str


@dataclass(frozen=True)
class EventFields:
    """Fields of an Outlook event to write. ``None`` means "not sent": a PATCH leaves that field as it is."""

    subject: str | None = None
    #: Plain-text body.
    body_text: str | None = None
    timing: EventTiming | None = None
    location: str | None = None
    attendees: tuple[GraphAttendee, ...] | None = None
    reminder: Reminder | None = None
    show_as: str | None = None
    categories: tuple[str, ...] | None = None

    def only(self, names: set[str] | frozenset[str]) -> EventFields:
        """The same fields with everything not named left out (names are attribute names)."""
        return EventFields(**{name: getattr(self, name) if name in names else None for name in _EVENT_FIELD_NAMES})


_EVENT_FIELD_NAMES = ("subject", "body_text", "timing", "location", "attendees", "reminder", "show_as", "categories")


@dataclass(frozen=True)
class NewEvent:
    """A create: the fields, a deterministic ``transactionId`` (a retried POST returns the event already made) and our tag."""

    fields: EventFields
    transaction_id: str
    tag: ExtendedProperty | None = None


@dataclass(frozen=True)
class EventUpdate:
    """A PATCH of ``event_id``; ``if_match`` is the changeKey it must still have (None: unconditional)."""

    event_id: str
    fields: EventFields
    if_match: str | None = None


@dataclass(frozen=True)
class SubscriptionRequest:
    """A change-notification subscription to create (Graph's ``subscription`` resource)."""

    resource: str
    notification_url: str
    lifecycle_url: str
    client_state: str
    expires_at: dt.datetime
    change_type: str = "created,updated,deleted"


@dataclass(frozen=True)
class Subscription:
    """A subscription as Graph answered it."""

    id: str
    resource: str
    notification_url: str
    expires_at: dt.datetime | None

    @classmethod
    def from_json(cls, data: dict) -> Subscription:
        return cls(id=str(data.get("id")), resource=str(data.get("resource") or ""), notification_url=str(data.get("notificationUrl") or ""),
                   expires_at=parse_instant(data.get("expirationDateTime")))


@dataclass(frozen=True)
class ChangeNotification:
    """One item of a change or lifecycle notification POST from Graph (``changeNotification``)."""

    subscription_id: str
    client_state: str
    change_type: str = ""
    #: ``resourceData.id``: the Outlook event that changed.
    event_id: str = ""
    #: ``reauthorizationRequired``, ``subscriptionRemoved`` or ``missed`` (lifecycle notifications only).
    lifecycle_event: str = ""

    @classmethod
    def from_json(cls, data: dict) -> ChangeNotification:
        """Any JSON object reads (the body is untrusted until its clientState is checked): odd values become text."""
        resource = data.get("resourceData")
        return cls(
            subscription_id=str(data.get("subscriptionId", "")), client_state=str(data.get("clientState", "")),
            change_type=str(data.get("changeType", "")), event_id=str(resource.get("id", "")) if isinstance(resource, dict) else "",
            lifecycle_event=str(data.get("lifecycleEvent", "")),
        )


def parse_notifications(body: bytes) -> list[ChangeNotification] | None:
    """The ``value`` list of a notification POST, or None when the body is not one (not JSON, no list of objects)."""
    try:
        decoded = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return None
    items = decoded.get("value") if isinstance(decoded, dict) else None
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        return None
    return [ChangeNotification.from_json(item) for item in items]


def parse_instant(value: str | None) -> dt.datetime | None:
    """A Graph instant (up to 7 fractional digits, ``Z`` or an offset, or naive meaning UTC)."""
    if not value:
        return None
    text = value.replace("Z", "+00:00")
    if "." in text:
        whole, rest = text.split(".", 1)
        digits = "".join(ch for ch in rest if ch.isdigit())
        text = f"{whole}.{digits[:6]}{rest[len(digits):]}"
    parsed = dt.datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class GraphEvent:
    """An Outlook event as the sync engine needs it.

    ``start``/``end`` are aware datetimes; for all-day events they are
    midnights in ``time_zone`` (the event's own zone, IANA name).
    """

    id: str
    change_key: str
    subject: str = ""
    body: str = ""
    body_type: str = "text"
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    time_zone: str = "UTC"
    is_all_day: bool = False
    location: str = ""
    attendees: tuple[GraphAttendee, ...] = ()
    reminder_minutes: int | None = None
    show_as: str = "busy"
    categories: tuple[str, ...] = ()
    extended_properties: dict[str, str] = field(default_factory=dict)
    transaction_id: str | None = None
    is_cancelled: bool = False
    last_modified: dt.datetime | None = None
    #: ``singleInstance``, ``occurrence``, ``exception`` or ``seriesMaster``.
    kind: str = "singleInstance"
    series_master_id: str | None = None

    @property
    def is_series(self) -> bool:
        return self.kind in ("seriesMaster", "occurrence", "exception")

    @property
    def is_busy(self) -> bool:
        return self.show_as not in ("free", "workingElsewhere") and not self.is_cancelled

    @classmethod
    def from_json(cls, data: dict) -> GraphEvent:
        zone_name = _event_zone(data)
        start, end = _when(data.get("start"), zone_name), _when(data.get("end"), zone_name)
        is_all_day = bool(data.get("isAllDay"))
        if is_all_day and start and end:
            # All-day events are floating dates: keep the wall-clock midnight in the event's zone.
            start = _midnight(data["start"], zone_name)
            end = _midnight(data["end"], zone_name)
        body = data.get("body") or {}
        location = data.get("location") or {}
        return cls(
            id=str(data["id"]),
            change_key=data.get("changeKey") or _etag_key(data.get("@odata.etag")),
            subject=data.get("subject") or "",
            body=body.get("content") or "",
            body_type=(body.get("contentType") or "text").lower(),
            start=start,
            end=end,
            time_zone=zone_name,
            is_all_day=is_all_day,
            location=location.get("displayName") or "",
            attendees=tuple(
                GraphAttendee(
                    email=((a.get("emailAddress") or {}).get("address") or "").lower(),
                    name=(a.get("emailAddress") or {}).get("name") or "",
                    type=a.get("type") or "required",
                )
                for a in data.get("attendees") or []
            ),
            reminder_minutes=data.get("reminderMinutesBeforeStart") if data.get("isReminderOn", True) else None,
            show_as=data.get("showAs") or "busy",
            categories=tuple(data.get("categories") or ()),
            extended_properties={str(p.get("id", "")).lower(): p.get("value") for p in data.get("singleValueExtendedProperties") or []},
            transaction_id=data.get("transactionId"),
            is_cancelled=bool(data.get("isCancelled")),
            last_modified=_instant(data.get("lastModifiedDateTime")),
            kind=data.get("type") or "singleInstance",
            series_master_id=data.get("seriesMasterId"),
        )

    def extended_property(self, property_id: str) -> str | None:
        return self.extended_properties.get(property_id.lower())


@dataclass(frozen=True)
class DeltaRemoved:
    """A delta entry saying the event left the window or was deleted."""

    id: str
    reason: str = "deleted"


def parse_delta_item(data: dict) -> GraphEvent | DeltaRemoved:
    if "@removed" in data:
        return DeltaRemoved(id=str(data["id"]), reason=(data.get("@removed") or {}).get("reason", "deleted"))
    return GraphEvent.from_json(data)


def _event_zone(data: dict) -> str:
    for key in ("originalStartTimeZone",):
        name = data.get(key)
        if name and name not in ("tzone://Microsoft/Utc", "tzone://Microsoft/Custom"):
            try:
                return to_iana(name)
            except UnknownTimeZone:
                pass
    start = data.get("start") or {}
    try:
        return to_iana(start.get("timeZone") or "UTC")
    except UnknownTimeZone:
        return "UTC"


def _when(value: dict | None, fallback_zone: str) -> dt.datetime | None:
    if not value or not value.get("dateTime"):
        return None
    zone_name = value.get("timeZone") or fallback_zone
    try:
        return parse_graph_datetime(value["dateTime"], zone_name)
    except UnknownTimeZone:
        return parse_graph_datetime(value["dateTime"], "UTC")


def _midnight(value: dict, zone_name: str) -> dt.datetime:
    """All-day boundaries: the date Graph wrote, as midnight in the event's zone."""
    day = dt.date.fromisoformat(value["dateTime"][:10])
    return parse_graph_datetime(f"{day.isoformat()}T00:00:00", zone_name)


def _instant(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _etag_key(etag: Any) -> str:
    if not etag:
        return ""
    text = str(etag)
    if text.startswith("W/"):
        text = text[2:]
    return text.strip('"')


@dataclass(frozen=True)
class GraphScheduleItem:
    """One busy block from ``getSchedule``."""

    start: dt.datetime
    end: dt.datetime
    status: str
    subject: str = ""

    @classmethod
    def from_json(cls, data: dict) -> GraphScheduleItem:
        return cls(
            start=_when(data["start"], "UTC"),
            end=_when(data["end"], "UTC"),
            status=data.get("status") or "busy",
            subject=data.get("subject") or "",
        )
