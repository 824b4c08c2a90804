"""WedSync calendar event <-> Microsoft Graph event (pure: no ORM, no HTTP).

The WedSync side is a plain mapping ``values`` with :class:`CalendarEvent` field
names (``id``, ``event_type``, ``title``, ``description``, ``location``,
``starts_at``, ``ends_at``, ``time_zone``, ``is_all_day``, ``attendees``,
``client_name``, ``wedding_reference``, ``travel_minutes``); the Outlook side is
a parsed ``GraphEvent`` (any object with its attributes). What to write to
Outlook is built here as the typed values of :mod:`outlook_sync.graph.types`
(:func:`event_fields`, :func:`new_event`, :func:`travel_event`); only
:mod:`outlook_sync.graph` turns them into Graph JSON. From ``graph`` this module
imports only ``types`` and ``timezones``, which do no I/O.

Both sides are reduced to a *snapshot*: the canonical, JSON-serialisable field
values that the three-way merge (:mod:`outlook_sync.sync.merge`) compares::

    {"title": str,                      # without the event prefix
     "when": {"start": ..., "end": ..., "allDay": bool},
     "location": str,
     "description": str,                # plain text
     "attendees": [email, ...] | None}  # sorted, lowercased; None = not synced

Timed ``when`` values are UTC instants ("2026-06-20T15:00:00Z", second
precision); all-day values are dates ("2026-06-20", end exclusive). The time
zone is deliberately *not* compared: Windows <-> IANA round trips are lossy
(Europe/Dublin -> "GMT Standard Time" -> Europe/London), so comparing zones
would report conflicts nobody made.
"""
from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from ..graph.timezones import UTC, UnknownTimeZone, zone
from ..graph.types import EventFields, EventTiming, ExtendedProperty, GraphAttendee, NewEvent, Reminder

#: The extended property that marks an Outlook event as WedSync's. Its value is
#: ``<integration id>:<WedSync event id>``, or ``<integration id>:travel:<id>``
#: for a travel-time block: every "is this ours" decision (disconnect, adopting
#: after a crash, the orphan sweep) checks the integration too, so one supplier's
#: connection never claims another's events in a shared mailbox.
TAG_PROPERTY_ID = "String {3c2d6bd1-7f3e-4b53-9b0c-5f2a1e0f7a11} Name WedSyncEventId"
TRAVEL_TAG_PREFIX = "travel:"

#: Namespace of :func:`transaction_id` (fixed forever: changing it would make
#: retries after a deploy create duplicates).
TRANSACTION_NAMESPACE = uuid.UUID("6f0f5b8e-2f63-4c4e-9d52-7a4f0c1d9e21")

# The event types, in the order of ``wedsync.events.models.EventType`` (kept as
# plain strings so this module imports without Django; a unit test checks that
# the two lists agree).
EVENT_TYPE_LABELS: dict[str, str] = {
    "client_meeting": "Client meeting",
    "venue_visit": "Venue visit",
    "vendor_meeting": "Vendor meeting",
    "wedding_ceremony": "Wedding ceremony",
    "wedding_reception": "Wedding reception",
    "engagement_shoot": "Engagement shoot",
    "deadline": "Deadline",
    "task_due": "Task due",
    "rehearsal": "Rehearsal",
}
EVENT_TYPES: tuple[str, ...] = tuple(EVENT_TYPE_LABELS)

#: Outlook category per event type, so the supplier can colour and filter them.
CATEGORY_BY_TYPE: dict[str, str] = {t: f"WedSync · {label}" for t, label in EVENT_TYPE_LABELS.items()}
TRAVEL_CATEGORY = "WedSync · Travel"

#: Which preference switch governs each event type.
TYPE_SWITCH: dict[str, str] = {
    "client_meeting": "syncClientMeetings",
    "venue_visit": "syncClientMeetings",
    "vendor_meeting": "syncClientMeetings",
    "wedding_ceremony": "syncWeddingEvents",
    "wedding_reception": "syncWeddingEvents",
    "rehearsal": "syncWeddingEvents",
    "engagement_shoot": "syncWeddingEvents",
    "deadline": "syncDeadlines",
    "task_due": "syncDeadlines",
}

#: Types whose attendees are real participants (the couple at a consultation, a
#: venue coordinator, a florist): an Outlook invitation is welcome. These are
#: also the only types that may ever send invitations: a ceremony, reception or
#: rehearsal lists guests who must not get mail from the supplier's calendar, and
#: deadlines and tasks have no participants.
INVITABLE_TYPES: frozenset[str] = frozenset({"client_meeting", "venue_visit", "vendor_meeting", "engagement_shoot"})
DEFAULT_INVITE_TYPES: frozenset[str] = INVITABLE_TYPES

#: Types that do not block time: a deadline is a marker, not a meeting, so it
#: shows as free and never makes the supplier look unavailable.
FREE_TYPES: frozenset[str] = frozenset({"deadline", "task_due"})

SNAPSHOT_FIELDS: tuple[str, ...] = ("title", "when", "location", "description", "attendees")

MAX_PREFIX_LENGTH = 50
MAX_REMINDERS = 10
MAX_REMINDER_MINUTES = 40320  # four weeks, Outlook's own limit


# --------------------------------------------------------------------------- preferences


@dataclass(frozen=True)
class SyncPreferences:
    """The spec's ``OutlookSyncPreferences`` plus ``inviteAttendeesFor`` (a WedSync addition)."""

    sync_client_meetings: bool = True
    sync_wedding_events: bool = True
    sync_deadlines: bool = True
    sync_travel_time: bool = False
    event_prefix: str = "WedSync: "
    create_separate_calendar: bool = False
    notification_minutes: tuple[int, ...] = (15, 60)
    invite_attendees_for: frozenset[str] = field(default=DEFAULT_INVITE_TYPES)

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> SyncPreferences:
        """Read stored JSON (camelCase). Missing keys take the spec's defaults; unknown keys are ignored."""
        data = data or {}
        defaults = cls()
        kwargs: dict[str, Any] = {}
        for key, attr in _JSON_KEYS.items():
            if key not in data or data[key] is None:
                continue
            value = data[key]
            if attr == "notification_minutes":
                value = tuple(int(v) for v in value)
            elif attr == "invite_attendees_for":
                value = frozenset(str(v) for v in value)
            elif attr == "event_prefix":
                value = str(value)
            else:
                value = bool(value)
            kwargs[attr] = value
        return cls(**{**{a: getattr(defaults, a) for a in _JSON_KEYS.values()}, **kwargs})

    def to_json(self) -> dict[str, Any]:
        return {
            "syncClientMeetings": self.sync_client_meetings,
            "syncWeddingEvents": self.sync_wedding_events,
            "syncDeadlines": self.sync_deadlines,
            "syncTravelTime": self.sync_travel_time,
            "eventPrefix": self.event_prefix,
            "createSeparateCalendar": self.create_separate_calendar,
            "notificationMinutes": list(self.notification_minutes),
            "inviteAttendeesFor": sorted(self.invite_attendees_for),
        }

    def invites(self, event_type: str) -> bool:
        """Whether attendees of this type are synced (and invited)."""
        return event_type in self.invite_attendees_for and event_type in INVITABLE_TYPES


_JSON_KEYS: dict[str, str] = {
    "syncClientMeetings": "sync_client_meetings",
    "syncWeddingEvents": "sync_wedding_events",
    "syncDeadlines": "sync_deadlines",
    "syncTravelTime": "sync_travel_time",
    "eventPrefix": "event_prefix",
    "createSeparateCalendar": "create_separate_calendar",
    "notificationMinutes": "notification_minutes",
    "inviteAttendeesFor": "invite_attendees_for",
}

_SWITCH_WORDING = {
    "syncClientMeetings": "syncing client meetings, venue visits and vendor meetings",
    "syncWeddingEvents": "syncing ceremonies, receptions, rehearsals and engagement shoots",
    "syncDeadlines": "syncing deadlines and tasks",
    "syncTravelTime": "adding travel time before your events",
    "createSeparateCalendar": "using a separate WedSync calendar in Outlook",
}


class PreferencesError(ValueError):
    """Invalid sync preferences; ``errors`` maps each JSON key to a message for the supplier."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def validate_preferences_patch(patch: Any) -> dict[str, Any]:
    """Check a (partial) ``syncPreferences`` object; return it cleaned (camelCase keys).

    Raises :class:`PreferencesError` listing every problem at once, so the
    settings form can show them all.
    """
    if not isinstance(patch, Mapping):
        raise PreferencesError({"syncPreferences": "Sync preferences must be an object of settings."})
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    for key, value in patch.items():
        if key not in _JSON_KEYS:
            errors[key] = f'There is no sync setting called "{key}".'
        elif key in _SWITCH_WORDING:
            if isinstance(value, bool):
                clean[key] = value
            else:
                errors[key] = f"Choose on (true) or off (false) for {_SWITCH_WORDING[key]}."
        elif key == "eventPrefix":
            if not isinstance(value, str):
                errors[key] = "The event prefix must be text, for example \"WedSync: \"."
            elif len(value) > MAX_PREFIX_LENGTH:
                errors[key] = f"Keep the event prefix to {MAX_PREFIX_LENGTH} characters or fewer so your Outlook titles stay readable."
            elif "\n" in value or "\r" in value:
                errors[key] = "The event prefix must fit on one line."
            else:
                clean[key] = value
        elif key == "notificationMinutes":
            message = _reminder_error(value)
            if message:
                errors[key] = message
            else:
                clean[key] = sorted(set(value))
        elif key == "inviteAttendeesFor":
            message = _invite_error(value)
            if message:
                errors[key] = message
            else:
                clean[key] = sorted(set(value))
    if errors:
        raise PreferencesError(errors)
    return clean


def _reminder_error(value: Any) -> str | None:
    if not isinstance(value, list):
        return "Reminders must be a list of minutes before the event, for example [15, 60]."
    if len(value) > MAX_REMINDERS:
        return f"You can set at most {MAX_REMINDERS} reminders."
    for minutes in value:
        if isinstance(minutes, bool) or not isinstance(minutes, int):
            return "Each reminder must be a whole number of minutes, for example 15 or 60."
        if not 0 <= minutes <= MAX_REMINDER_MINUTES:
            return f"Each reminder must be between 0 minutes and 4 weeks ({MAX_REMINDER_MINUTES} minutes) before the event."
    return None


def _invite_error(value: Any) -> str | None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return "Choose the event types to send invitations for as a list, for example [\"client_meeting\"]."
    unknown = [v for v in value if v not in EVENT_TYPE_LABELS]
    if unknown:
        return f"Unknown event type: {', '.join(unknown)}."
    never = [EVENT_TYPE_LABELS[v] for v in value if v not in INVITABLE_TYPES]
    if never:
        return (
            f"Outlook invitations are never sent for: {', '.join(never)}. Wedding-day guest lists, deadlines "
            "and tasks would email people who should not hear from your calendar. Choose from client meetings, "
            "venue visits, vendor meetings and engagement shoots."
        )
    return None


def is_type_synced(event_type: str, prefs: SyncPreferences) -> bool:
    switch = TYPE_SWITCH.get(event_type)
    return switch is not None and getattr(prefs, _JSON_KEYS[switch])


def changed_preferences_need_full_resync(old: SyncPreferences, new: SyncPreferences) -> bool:
    """Whether a settings change alters which events exist in Outlook or how every one of them looks.

    Type switches add or remove events; the prefix rewrites every subject;
    travel time adds or removes blocks; a separate calendar moves everything.
    Reminders and the invitation list only shape future writes (re-sending
    invitations to every client on a settings change would be unwelcome).
    """
    watched = ("sync_client_meetings", "sync_wedding_events", "sync_deadlines", "event_prefix", "sync_travel_time", "create_separate_calendar")
    return any(getattr(old, name) != getattr(new, name) for name in watched)


# --------------------------------------------------------------------------- snapshots


def snapshot_from_wedsync(values: Mapping[str, Any], prefs: SyncPreferences) -> dict[str, Any]:
    event_type = values["event_type"]
    return {
        "title": values.get("title") or "",
        "when": _when(values["starts_at"], values["ends_at"], bool(values.get("is_all_day")), values.get("time_zone") or "UTC"),
        "location": values.get("location") or "",
        "description": normalise_text(values.get("description") or ""),
        "attendees": _emails(a.get("email") for a in values.get("attendees") or []) if prefs.invites(event_type) else None,
    }


def snapshot_from_graph(event: Any, prefs: SyncPreferences, event_type: str, *, prefix: str | None = None) -> dict[str, Any]:
    """Outlook's side as a snapshot; the title is the subject without ``prefix`` (default: the prefix in force).

    ``prefix=""`` keeps the raw subject (the planner strips the prefix applied to that copy).
    """
    if event.is_all_day:
        when = {"start": event.start.date().isoformat(), "end": event.end.date().isoformat(), "allDay": True}
    else:
        when = {"start": _utc(event.start), "end": _utc(event.end), "allDay": False}
    description = html_to_text(event.body) if event.body_type == "html" else normalise_text(event.body)
    return {
        "title": strip_prefix(event.subject, prefs.event_prefix if prefix is None else prefix),
        "when": when,
        "location": event.location,
        "description": description,
        "attendees": _emails(a.email for a in event.attendees) if prefs.invites(event_type) else None,
    }


def strip_prefix(subject: str, prefix: str) -> str:
    """The subject without our prefix; tolerates Outlook trimming the prefix's trailing space."""
    if prefix and subject.startswith(prefix):
        return subject[len(prefix):]
    bare = prefix.rstrip()
    if bare and subject.startswith(bare):
        return subject[len(bare):].lstrip()
    return subject


def wedsync_changes(fields: Mapping[str, Any], *, current_values: Mapping[str, Any]) -> dict[str, Any]:
    """Turn merged snapshot values into :class:`CalendarEvent` field changes.

    All-day dates become midnights in the event's current zone (the zone is not
    synced, see the module docstring). Attendee names are kept for emails WedSync
    already knows (the snapshot holds emails only); new attendees get an empty name.
    """
    tz_name = current_values.get("time_zone") or "UTC"
    changes: dict[str, Any] = {}
    for name, value in fields.items():
        if name in ("title", "location", "description"):
            changes[name] = value
        elif name == "when":
            starts_at, ends_at = when_to_datetimes(value, tz_name)
            changes.update(starts_at=starts_at, ends_at=ends_at, is_all_day=bool(value["allDay"]))
        elif name == "attendees":
            if value is None:
                continue
            known = {(a.get("email") or "").lower(): a.get("name") or "" for a in current_values.get("attendees") or []}
            changes["attendees"] = [{"name": known.get(email, ""), "email": email} for email in value]
        else:
            raise ValueError(f"not a snapshot field: {name}")
    return changes


def when_to_datetimes(when: Mapping[str, Any], tz_name: str) -> tuple[dt.datetime, dt.datetime]:
    """Aware datetimes for a snapshot ``when`` (all-day dates as local midnights)."""
    if when["allDay"]:
        tz = _zone_or_utc(tz_name)
        return tuple(  # type: ignore[return-value]
            dt.datetime.combine(dt.date.fromisoformat(when[k]), dt.time(), tzinfo=tz) for k in ("start", "end")
        )
    tz = _zone_or_utc(tz_name)
    return tuple(  # type: ignore[return-value]
        dt.datetime.fromisoformat(when[k].replace("Z", "+00:00")).astimezone(tz) for k in ("start", "end")
    )


def _when(starts_at: dt.datetime, ends_at: dt.datetime, is_all_day: bool, tz_name: str) -> dict[str, Any]:
    if not is_all_day:
        return {"start": _utc(starts_at), "end": _utc(ends_at), "allDay": False}
    start, end = _all_day_dates(starts_at, ends_at, tz_name)
    return {"start": start.isoformat(), "end": end.isoformat(), "allDay": True}


def _all_day_dates(starts_at: dt.datetime, ends_at: dt.datetime, tz_name: str) -> tuple[dt.date, dt.date]:
    """Local dates, end exclusive; an end that is not a midnight still covers its day, and at least one day."""
    tz = _zone_or_utc(tz_name)
    start_local, end_local = starts_at.astimezone(tz), ends_at.astimezone(tz)
    start = start_local.date()
    end = end_local.date() if end_local.time() == dt.time() else end_local.date() + dt.timedelta(days=1)
    return start, max(end, start + dt.timedelta(days=1))


def _utc(value: dt.datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _emails(emails: Iterable[str | None]) -> list[str]:
    return sorted({e.strip().lower() for e in emails if e and e.strip()})


def _zone_or_utc(tz_name: str) -> dt.tzinfo:
    try:
        return zone(tz_name)
    except UnknownTimeZone:
        return UTC


def normalise_text(text: str) -> str:
    """Line endings as ``\\n`` and no surrounding blank space (Outlook adds CRLFs and trailing newlines)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


class _TextExtractor(HTMLParser):
    """Collects visible text; block elements start a new line, ``<br>`` always breaks one."""

    BLOCKS = {"p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "blockquote", "pre"}
    HIDDEN = {"head", "style", "script", "title"}

    def __init__(self):
        super().__init__(convert_charrefs=True)  # entities arrive unescaped in handle_data
        self.parts: list[str] = []
        self.hidden = 0
        self.at_line_start = True

    def _break(self, hard: bool) -> None:
        if hard or not self.at_line_start:
            self.parts.append("\n")
            self.at_line_start = True

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN:
            self.hidden += 1
        elif tag == "br":
            self._break(hard=True)
        elif tag in self.BLOCKS:
            self._break(hard=False)

    def handle_startendtag(self, tag, attrs):
        if tag == "br":
            self._break(hard=True)

    def handle_endtag(self, tag):
        if tag in self.HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in self.BLOCKS:
            self._break(hard=False)

    def handle_data(self, data):
        if self.hidden:
            return
        # Source whitespace (Outlook's CRLFs between tags, &nbsp;) is one space, as in a browser.
        text = re.sub(r"[ \t\r\n\f\v\u00a0]+", " ", data)
        if self.at_line_start:
            text = text.lstrip()
        if text:
            self.parts.append(text)
            self.at_line_start = False


def html_to_text(body: str) -> str:
    """Plain text of an Outlook HTML body: tags stripped, entities unescaped, Outlook's whitespace collapsed.

    Block elements and ``<br>`` become line breaks; more than one blank line in a row becomes one.
    """
    parser = _TextExtractor()
    parser.feed(body)
    parser.close()
    text = "\n".join(line.strip() for line in "".join(parser.parts).split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# --------------------------------------------------------------------------- what Outlook gets (typed; graph/ writes the JSON)

_PATCHABLE = frozenset(SNAPSHOT_FIELDS) | {"reminder"}
#: Snapshot field -> the :class:`EventFields` attributes that carry it.
_FIELDS_OF = {"title": ("subject",), "description": ("body_text",), "when": ("timing",), "location": ("location",), "attendees": ("attendees",), "reminder": ("reminder",)}


def event_fields(values: Mapping[str, Any], prefs: SyncPreferences, *, fields: set[str] | frozenset[str] | None = None) -> EventFields:
    """What to write to Outlook: everything for a create (``fields`` None) or only the named snapshot fields for an update.

    Reminder: Graph keeps one reminder per event, so we send the *earliest*
    (largest ``notificationMinutes``) one: the supplier gets the early warning
    and the short one is only a convenience. Reminders, categories and showAs
    are written on create only (like the tag, :func:`new_event`), so a
    supplier's own changes to them in Outlook survive.
    """
    if fields is not None and not set(fields) <= _PATCHABLE:
        raise ValueError(f"not snapshot fields: {sorted(set(fields) - _PATCHABLE)}")
    event_type = values["event_type"]
    everything = EventFields(
        subject=f"{prefs.event_prefix}{values.get('title') or ''}",
        body_text=values.get("description") or "",
        timing=_timing(values["starts_at"], values["ends_at"], bool(values.get("is_all_day")), values.get("time_zone") or "UTC"),
        location=values.get("location") or "",
        attendees=_attendees(values.get("attendees") or []) if prefs.invites(event_type) else None,
        reminder=Reminder(reminder_minutes(prefs)),
        categories=(CATEGORY_BY_TYPE[event_type],),
        show_as="free" if event_type in FREE_TYPES else "busy",
    )
    if fields is None:
        return everything
    return everything.only({name for f in fields for name in _FIELDS_OF[f]})


def reminder_minutes(prefs: SyncPreferences) -> int | None:
    """The one reminder Graph keeps: the earliest (largest minutes), or None when reminders are off."""
    return max(prefs.notification_minutes) if prefs.notification_minutes else None


def tag_value(integration_id: Any, wedsync_id: Any) -> str:
    """The tag of our copy of ``wedsync_id`` (``travel:<id>`` for a travel block) made by this integration."""
    return f"{integration_id}:{wedsync_id}"


def tag(integration_id: Any, wedsync_id: Any) -> ExtendedProperty:
    """Our tag (extended property) on a copy: which integration made it, of which WedSync event."""
    return ExtendedProperty(TAG_PROPERTY_ID, tag_value(integration_id, wedsync_id))


def new_event(values: Mapping[str, Any], prefs: SyncPreferences, *, integration_id: Any, attempt: int = 0) -> NewEvent:
    """A create with our tag and a deterministic ``transactionId`` (a retried create returns the existing event)."""
    return NewEvent(event_fields(values, prefs), transaction_id=transaction_id(integration_id, values["id"], attempt), tag=tag(integration_id, values["id"]))


def transaction_id(integration_id: Any, wedsync_event_id: Any, attempt: int = 0) -> str:
    """Same inputs, same id: a retry after a crash is deduplicated by Graph.

    ``attempt`` is bumped only for a deliberate re-create (the Outlook copy was
    deleted and the supplier chose to keep the event), which must not be
    answered with the old, deleted event.
    """
    return str(uuid.uuid5(TRANSACTION_NAMESPACE, f"{integration_id}:{wedsync_event_id}:{attempt}"))


def _timing(starts_at: dt.datetime, ends_at: dt.datetime, is_all_day: bool, tz_name: str) -> EventTiming:
    """All-day events as local dates (end exclusive, at least one day); timed ones as the instants."""
    if is_all_day:
        start, end = _all_day_dates(starts_at, ends_at, tz_name)
        return EventTiming(start, end, tz_name, all_day=True)
    return EventTiming(starts_at, ends_at, tz_name)


def _attendees(attendees: Iterable[Mapping[str, Any]]) -> tuple[GraphAttendee, ...]:
    """Each email once (case-insensitively), as written; blank ones left out."""
    seen: set[str] = set()
    out = []
    for attendee in attendees:
        email = (attendee.get("email") or "").strip()
        if not email or email.lower() in seen:
            continue
        seen.add(email.lower())
        out.append(GraphAttendee(email=email, name=attendee.get("name") or ""))
    return tuple(out)


# --------------------------------------------------------------------------- travel blocks


def travel_event(values: Mapping[str, Any], prefs: SyncPreferences, *, integration_id: Any, attempt: int = 0) -> NewEvent | None:
    """A busy block "Travel to <title>" ending when the event starts, or None when there is none.

    Only for synced, timed events with ``travel_minutes`` and ``syncTravelTime``
    on. Travel blocks are owned by WedSync (one-way): the engine overwrites
    Outlook edits to them. No reminder: the event's own reminder already comes
    before the block starts, and two pop-ups for one appointment is noise.
    """
    if not (prefs.sync_travel_time and is_type_synced(values["event_type"], prefs)):
        return None
    snapshot = travel_snapshot(values)
    if snapshot is None:
        return None
    starts_at = values["starts_at"]
    travel_starts_at = starts_at - dt.timedelta(minutes=int(values["travel_minutes"]))
    fields = EventFields(
        subject=f"{prefs.event_prefix}{snapshot['title']}",
        body_text=f"Travel time before {values.get('title') or 'your event'}, added by WedSync.",
        timing=_timing(travel_starts_at, starts_at, False, values.get("time_zone") or "UTC"),
        reminder=Reminder(None), show_as="busy", categories=(TRAVEL_CATEGORY,),
    )
    travel_id = f"{TRAVEL_TAG_PREFIX}{values['id']}"
    return NewEvent(fields, transaction_id=transaction_id(integration_id, travel_id, attempt), tag=tag(integration_id, travel_id))


def travel_snapshot(values: Mapping[str, Any]) -> dict[str, Any] | None:
    """``{"title", "when"}`` of the travel block, comparable with :func:`snapshot_from_graph` of the Outlook block."""
    minutes = values.get("travel_minutes")
    if not minutes or values.get("is_all_day"):
        return None
    starts_at = values["starts_at"]
    return {
        "title": f"Travel to {values.get('title') or ''}",
        "when": {"start": _utc(starts_at - dt.timedelta(minutes=int(minutes))), "end": _utc(starts_at), "allDay": False},
    }


def tag_of(event: Any, integration_id: Any) -> tuple[str, str] | None:
    """``("event", id)`` or ``("travel", id)`` for this integration's events; None for anything else.

    Anything else is the supplier's own event, or another integration's (an
    old tag without the integration id counts as not ours: it cannot be
    attributed, so it is never deleted or adopted on a guess).
    """
    value = event.extended_property(TAG_PROPERTY_ID)
    own = f"{integration_id}:"
    if not value or not value.startswith(own):
        return None
    value = value[len(own):]
    if not value:
        return None
    if value.startswith(TRAVEL_TAG_PREFIX):
        wedsync_id = value[len(TRAVEL_TAG_PREFIX):]
        return ("travel", wedsync_id) if wedsync_id else None
    return ("event", value)
