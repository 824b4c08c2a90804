"""Every write to WedSync calendar events goes through these functions.

Each action validates, writes with ``save(update_fields=...)``, bumps the
event's ``version``, and sends :data:`~wedsync.events.signals.event_changed`
after the transaction commits (so listeners never see a change that rolled
back).
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, available_timezones

from django.core.validators import validate_email
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone

from .models import CalendarEvent, EventType
from .signals import event_changed

SOURCE_WEDSYNC = "wedsync"

#: Fields a caller may change with :func:`update_event`.
EDITABLE_FIELDS = (
    "event_type", "title", "description", "location", "starts_at", "ends_at", "time_zone",
    "is_all_day", "attendees", "client_name", "wedding_reference", "travel_minutes",
)


class EventValidationError(Exception):
    """Bad event data. ``errors`` maps a field name to a message for the supplier."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(errors)
        self.errors = errors


class EventVersionConflict(Exception):
    """The event changed since the caller read it (optimistic concurrency)."""


def validate_event_values(values: dict) -> None:
    """Raise :class:`EventValidationError` when ``values`` (all editable fields) are not a valid event."""
    errors: dict[str, str] = {}
    if values.get("event_type") not in EventType.values:
        errors["event_type"] = "Choose one of the WedSync event types."
    title = (values.get("title") or "").strip()
    if not title:
        errors["title"] = "Give the event a title."
    elif len(title) > 255:
        errors["title"] = "Keep the title under 255 characters."
    zone_name = values.get("time_zone") or ""
    zone = None
    if zone_name not in _zones():
        errors["time_zone"] = "Choose a time zone such as Europe/London."
    else:
        zone = ZoneInfo(zone_name)
    starts_at, ends_at = values.get("starts_at"), values.get("ends_at")
    for name, value in (("starts_at", starts_at), ("ends_at", ends_at)):
        if not isinstance(value, dt.datetime) or timezone.is_naive(value):
            errors[name] = "Give a date and time with a time zone."
    if "starts_at" not in errors and "ends_at" not in errors:
        if ends_at < starts_at:
            errors["ends_at"] = "The event can't end before it starts."
        elif values.get("is_all_day") and zone is not None:
            local_start, local_end = starts_at.astimezone(zone), ends_at.astimezone(zone)
            if local_start.time() != dt.time(0) or local_end.time() != dt.time(0) or local_end.date() <= local_start.date():
                errors["ends_at"] = "An all-day event runs from midnight to midnight, for whole days."
    attendees = values.get("attendees") or []
    if not isinstance(attendees, list):
        errors["attendees"] = "Attendees must be a list of names and email addresses."
    else:
        for attendee in attendees:
            try:
                validate_email((attendee or {}).get("email", ""))
            except (DjangoValidationError, AttributeError):
                errors["attendees"] = "Each attendee needs a valid email address."
                break
    travel = values.get("travel_minutes")
    if travel is not None and (not isinstance(travel, int) or travel < 0 or travel > 24 * 60):
        errors["travel_minutes"] = "Travel time must be between 0 and 1440 minutes."
    if errors:
        raise EventValidationError(errors)


_ZONES: frozenset[str] | None = None


def _zones() -> frozenset[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = frozenset(available_timezones())
    return _ZONES


def _normalise_attendees(attendees):
    """Trim names and lower-case emails; anything malformed is left for :func:`validate_event_values` to reject."""
    if not isinstance(attendees, list) or not all(isinstance(a, dict) and isinstance(a.get("email"), str) for a in attendees):
        return attendees
    return [{"name": str(a.get("name") or "").strip(), "email": a["email"].strip().lower()} for a in attendees]


def _notify_after_commit(event: CalendarEvent, change: str, source: str) -> None:
    event_id, supplier_id, version = event.id, event.supplier_id, event.version
    transaction.on_commit(
        lambda: event_changed.send(
            sender=CalendarEvent, event_id=event_id, supplier_id=supplier_id, version=version, change=change, source=source
        )
    )


def create_event(supplier, *, source: str = SOURCE_WEDSYNC, **values) -> CalendarEvent:
    """Create an event for ``supplier``. Raises :class:`EventValidationError`."""
    unknown = set(values) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"unknown event fields: {sorted(unknown)}")
    values.setdefault("time_zone", "UTC")
    values.setdefault("is_all_day", False)
    values["attendees"] = _normalise_attendees(values.get("attendees") or [])
    validate_event_values(values)
    with transaction.atomic():
        event = CalendarEvent.objects.create(supplier=supplier, **values)
        _notify_after_commit(event, "created", source)
    return event


def update_event(event: CalendarEvent, *, source: str = SOURCE_WEDSYNC, expected_version: int | None = None, **changes) -> CalendarEvent:
    """Apply ``changes`` to ``event`` and bump its version.

    ``expected_version`` makes the update conditional: if the stored event has
    moved on, :class:`EventVersionConflict` is raised and nothing is written.
    A change that alters nothing writes nothing and sends no signal.
    """
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"unknown event fields: {sorted(unknown)}")
    if "attendees" in changes:
        changes["attendees"] = _normalise_attendees(changes["attendees"] or [])
    with transaction.atomic():
        locked = CalendarEvent.objects.select_for_update().get(pk=event.pk)
        if locked.is_deleted:
            raise EventValidationError({"event": "This event has been deleted."})
        if expected_version is not None and locked.version != expected_version:
            raise EventVersionConflict(locked.version)
        changed = [name for name, value in changes.items() if getattr(locked, name) != value]
        if not changed:
            return locked
        merged = {name: getattr(locked, name) for name in EDITABLE_FIELDS} | changes
        validate_event_values(merged)
        for name in changed:
            setattr(locked, name, changes[name])
        locked.version += 1  # the row is locked (select_for_update): no one else can move it meanwhile
        locked.save(update_fields=[*changed, "version", "updated_at"])
        _notify_after_commit(locked, "updated", source)
    return locked


def delete_event(event: CalendarEvent, *, source: str = SOURCE_WEDSYNC, expected_version: int | None = None) -> CalendarEvent:
    """Soft-delete ``event`` (keeps a tombstone so sync can see the delete). Idempotent.

    ``expected_version`` makes it conditional, as for :func:`update_event`: an
    edit made since the caller read the event raises :class:`EventVersionConflict`.
    """
    with transaction.atomic():
        locked = CalendarEvent.objects.select_for_update().get(pk=event.pk)
        if locked.is_deleted:
            return locked
        if expected_version is not None and locked.version != expected_version:
            raise EventVersionConflict(locked.version)
        locked.is_deleted = True
        locked.deleted_at = timezone.now()
        locked.version += 1  # the row is locked (select_for_update): no one else can move it meanwhile
        locked.save(update_fields=["is_deleted", "deleted_at", "version", "updated_at"])
        _notify_after_commit(locked, "deleted", source)
    return locked


def restore_event(event: CalendarEvent, *, source: str = SOURCE_WEDSYNC) -> CalendarEvent:
    """Undo a soft delete (e.g. the supplier chose to keep the Outlook copy of an event deleted in WedSync)."""
    with transaction.atomic():
        locked = CalendarEvent.objects.select_for_update().get(pk=event.pk)
        if not locked.is_deleted:
            return locked
        locked.is_deleted = False
        locked.deleted_at = None
        locked.version += 1  # the row is locked (select_for_update): no one else can move it meanwhile
        locked.save(update_fields=["is_deleted", "deleted_at", "version", "updated_at"])
        _notify_after_commit(locked, "created", source)
    return locked
