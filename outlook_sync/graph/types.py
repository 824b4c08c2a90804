"""Graph JSON parsed into dataclasses at the edge.

Nothing outside :mod:`outlook_sync.graph` sees raw dicts from Microsoft; these
classes are what the sync engine, the API and the UI work with.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from ..timezones import UnknownTimeZone, parse_graph_datetime, to_iana


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

    @classmethod
    def from_contract(cls, data: dict) -> GraphCalendar:
        """Back from :meth:`to_contract` (the cached calendar list)."""
        owner = data.get("owner") or {}
        return cls(id=str(data["id"]), name=data.get("name") or "", color=data.get("color") or "auto", is_default=bool(data.get("isDefaultCalendar")),
                   can_edit=bool(data.get("canEdit", True)), owner_name=owner.get("name") or "", owner_email=owner.get("address") or "")

    def to_contract(self) -> dict:
        """The spec's ``OutlookCalendar`` shape."""
        return {
            "id": self.id,
            "name": self.name,
            "color": self.color,
            "isDefaultCalendar": self.is_default,
            "canEdit": self.can_edit,
            "owner": {"name": self.owner_name, "address": self.owner_email},
        }


@dataclass(frozen=True)
class GraphAttendee:
    email: str
    name: str = ""
    type: str = "required"


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
