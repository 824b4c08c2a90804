"""Words and formats for the supplier: labels, dates in the event's own time zone, readable sync errors.

Pure presentation: no writes and no sync decisions (those live in
``outlook_sync.actions``/``selectors``).
"""
from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.utils import timezone

from outlook_sync.sync import mapping
from wedsync.events.models import CalendarEvent

EVENT_TYPE_LABELS = mapping.EVENT_TYPE_LABELS

#: What each preference switch covers, in the supplier's words.
TYPE_SWITCHES = (
    ("syncClientMeetings", "Client meetings & consultations", "Consultations, venue visits and vendor meetings."),
    ("syncWeddingEvents", "Wedding events", "Ceremonies, receptions, rehearsals and engagement shoots."),
    ("syncDeadlines", "Deadlines & tasks", "Shown in Outlook as free time, so they never block your diary."),
)

DIRECTION_CHOICES = (
    ("bidirectional", "Both ways", "Changes in WedSync show up in Outlook, and changes you make in Outlook come back to WedSync."),
    ("to_outlook", "WedSync to Outlook only", "Outlook shows your WedSync bookings; edits made in Outlook are left alone."),
    ("from_outlook", "Outlook to WedSync only", "Moving or renaming a booking in Outlook updates WedSync; WedSync changes are not sent."),
)

#: Reminder checkboxes offered on the settings page (minutes before the event).
REMINDER_CHOICES = (15, 60, 1440)

SYNC_TYPE_LABELS = {
    "full_sync": "Full check",
    "incremental": "Quick update",
    "single_event": "Single event",
    "webhook_triggered": "Change in Outlook",
}
TRIGGER_LABELS = {
    "manual": "you clicked Sync now",
    "connect": "after connecting",
    "schedule": "automatic check",
    "settings_change": "after a settings change",
    "undo": "you undid a sync",
    "wedsync_change": "after a change in WedSync",
    "conflict_resolution": "after you resolved a conflict",
    "force": "you asked to sync one event",
    "webhook": "Outlook told us about a change",
    "admin": "started by WedSync support",
    "disconnect": "keeping your Outlook edits before disconnecting",
    "retry": "trying again after Outlook asked us to wait",
}
RUN_STATUS_LABELS = {"in_progress": "Running", "completed": "Done", "failed": "Failed", "cancelled": "Cancelled"}
MAPPING_STATUS_LABELS = {"synced": "In sync", "pending": "Waiting to sync", "conflict": "Needs your decision", "error": "Couldn't sync"}
FIELD_LABELS = {
    "title": "Title",
    "when": "Date & time",
    "location": "Location",
    "description": "Notes",
    "attendees": "Guests invited",
    "deleted": "Event deleted",
}
CONFLICT_TYPE_LABELS = {
    "title": "title",
    "date_time": "date & time",
    "location": "location",
    "description": "notes",
    "attendees": "guest list",
}


def zone_or_default(name: str | None) -> dt.tzinfo:
    try:
        return ZoneInfo(name or settings.TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(settings.TIME_ZONE)


def supplier_time_zone(user) -> str:
    """The zone the supplier last entered an event in (they have no profile zone yet), else the site's."""
    latest = CalendarEvent.objects.filter(supplier=user, is_deleted=False).order_by("-updated_at").values_list("time_zone", flat=True).first()
    return latest or settings.TIME_ZONE


def reminder_label(minutes: int) -> str:
    if minutes == 0:
        return "When it starts"
    if minutes % 1440 == 0:
        days = minutes // 1440
        return "1 day before" if days == 1 else ("1 week before" if days == 7 else f"{days} days before")
    if minutes % 60 == 0:
        hours = minutes // 60
        return "1 hour before" if hours == 1 else f"{hours} hours before"
    return f"{minutes} minutes before"


def local(value: dt.datetime | None, zone_name: str | None) -> dt.datetime | None:
    if value is None:
        return None
    return timezone.localtime(value, zone_or_default(zone_name))


def format_datetime(value: dt.datetime | None, zone_name: str | None) -> str:
    value = local(value, zone_name)
    return value.strftime("%a %-d %b %Y, %H:%M") if value else ""


def format_event_when(event: CalendarEvent) -> str:
    """'Sat 20 Jun 2026, 15:00–16:00' in the event's own zone; all-day events as dates."""
    if event.is_all_day:
        start = local(event.starts_at, event.time_zone).date()
        last = (local(event.ends_at, event.time_zone) - dt.timedelta(seconds=1)).date()
        return _date_range(start, last)
    return _time_range(local(event.starts_at, event.time_zone), local(event.ends_at, event.time_zone))


def _date_range(start: dt.date, last: dt.date) -> str:
    if last <= start:
        return f"{start:%a %-d %b %Y} (all day)"
    return f"{start:%a %-d %b} – {last:%a %-d %b %Y} (all day)"


def _time_range(start: dt.datetime, end: dt.datetime) -> str:
    if start.date() == end.date():
        return f"{start:%a %-d %b %Y, %H:%M}–{end:%H:%M}"
    return f"{start:%a %-d %b %Y, %H:%M} – {end:%a %-d %b %Y, %H:%M}"


def format_when_value(when: dict | None, zone_name: str | None) -> str:
    """A snapshot ``when`` (UTC instants or all-day dates, end exclusive) in the event's zone."""
    if not isinstance(when, dict) or "start" not in when:
        return "(not set)"
    try:
        if when.get("allDay"):
            start = dt.date.fromisoformat(str(when["start"])[:10])
            end = dt.date.fromisoformat(str(when["end"])[:10])
            return _date_range(start, end - dt.timedelta(days=1))
        zone = zone_or_default(zone_name)
        start = dt.datetime.fromisoformat(str(when["start"]).replace("Z", "+00:00")).astimezone(zone)
        end = dt.datetime.fromisoformat(str(when["end"]).replace("Z", "+00:00")).astimezone(zone)
    except (ValueError, TypeError):
        return str(when)
    return _time_range(start, end)


def format_field_value(field: str, value, zone_name: str | None) -> str:
    """One side of a conflicted field, as the supplier would read it."""
    if field == "when":
        return format_when_value(value, zone_name)
    if field == "attendees":
        return ", ".join(value) if value else "(nobody)"
    if value is None or value == "":
        return "(empty)"
    return str(value)


def summarise_snapshot(snapshot: dict | None, zone_name: str | None) -> str:
    """The surviving side of a 'deleted' conflict: its title and time."""
    if not isinstance(snapshot, dict):
        return ""
    parts = [snapshot.get("title") or "(untitled)"]
    if snapshot.get("when"):
        parts.append(format_when_value(snapshot["when"], zone_name))
    if snapshot.get("location"):
        parts.append(snapshot["location"])
    return " · ".join(parts)


def readable_errors(errors: list | None, *, titles: dict[str, str] | None = None, limit: int = 5) -> list[str]:
    """The spec's ``SyncError`` list as sentences ("“Consultation”: Outlook was busy; we'll retry.")."""
    titles = titles or {}
    lines = []
    for error in (errors or [])[:limit]:
        if not isinstance(error, dict):
            lines.append(str(error))
            continue
        message = error.get("errorMessage") or "Something went wrong."
        title = titles.get(str(error.get("eventId") or ""))
        if title:
            message = f"“{title}”: {message}"
        elif error.get("eventType") in EVENT_TYPE_LABELS:
            message = f"{EVENT_TYPE_LABELS[error['eventType']]}: {message}"
        if error.get("retryable") and not _says_it_retries(message):
            message += " We'll try again automatically."
        lines.append(message)
    extra = len(errors or []) - limit
    if extra > 0:
        lines.append(f"…and {extra} more.")
    return lines


def _says_it_retries(message: str) -> bool:
    """Whether the message already tells the supplier we'll retry (most of ``outlook_sync.wording``'s do): say it once."""
    lowered = message.lower()
    return "we'll retry" in lowered or "we'll try again" in lowered or "we'll sync again" in lowered


def event_titles(supplier, errors_lists) -> dict[str, str]:
    """Titles of the supplier's events named in sync errors (one query)."""
    ids = set()
    for errors in errors_lists:
        for error in errors or []:
            if isinstance(error, dict) and error.get("eventId"):
                ids.add(str(error["eventId"]))
    valid = []
    for value in ids:
        try:
            valid.append(uuid.UUID(value))
        except ValueError:
            continue
    if not valid:
        return {}
    return {str(pk): title for pk, title in CalendarEvent.objects.filter(supplier=supplier, pk__in=valid).values_list("id", "title")}


def run_percent(run) -> int:
    """How far the run got: 100 only for a completed run; a failed one shows where it stopped."""
    if run.sync_status == "completed":
        return 100
    if not run.total_events:
        return 0
    return min(99, int(run.events_processed * 100 / run.total_events))


#: Why Microsoft wants the supplier to sign in again, in their words (keyed by Microsoft's error code,
#: which is never shown: https://learn.microsoft.com/entra/identity-platform/reference-error-codes).
RECONNECT_REASONS = {
    "AADSTS50173": "Your Microsoft password was changed or WedSync's access was signed out, so Microsoft needs you to sign in again.",
    "AADSTS70008": "Microsoft's sign-in for WedSync expired, so it needs you to sign in again.",
    "AADSTS700082": "WedSync hadn't synced with Outlook for a long time, so Microsoft needs you to sign in again.",
    "AADSTS65001": "WedSync's permission to use your Outlook calendar was withdrawn. Sign in again and allow it.",
    "AADSTS50076": "Your organisation now asks for an extra sign-in check. Sign in again to continue.",
    "AADSTS50079": "Your organisation now asks for an extra sign-in check. Sign in again to continue.",
    "AADSTS53003": "Your organisation's sign-in rules blocked WedSync. Ask your IT admin, then sign in again.",
    "invalid_grant": "Microsoft no longer accepts WedSync's sign-in, so it needs you to sign in again.",
}
DEFAULT_RECONNECT_REASON = "Microsoft needs you to sign in again before WedSync can keep syncing."


def reconnect_reason(code: str | None) -> str:
    """Why reconnecting is needed, in the supplier's words (never Microsoft's code)."""
    code = (code or "").strip()
    if code in RECONNECT_REASONS:
        return RECONNECT_REASONS[code]
    for known, sentence in RECONNECT_REASONS.items():
        if known in code:
            return sentence
    return DEFAULT_RECONNECT_REASON


def integration_health(integration, *, now: dt.datetime | None = None, zone_name: str | None = None, retry_at: dt.datetime | None = None) -> dict:
    """The integration's real state for the page: ``{"state", "headline", "detail"}``.

    States: ``needs_reconnect``, ``throttled`` (with the time it will retry), ``paused``, ``error`` and
    ``partial`` (the last run's first problem, in supplier words), ``retrying`` (the last sync failed and a retry
    waits until ``retry_at``), ``pending`` (never synced) and ``ok``.
    """
    now = now or timezone.now()
    if integration.needs_reauthorization:
        return {"state": "needs_reconnect", "headline": "Outlook needs reconnecting: syncing is paused.",
                "detail": reconnect_reason(integration.reauthorization_reason)}
    if integration.throttled_until and integration.throttled_until > now:
        at = local(integration.throttled_until, zone_name).strftime("%H:%M")
        return {"state": "throttled", "headline": f"Outlook asked us to slow down; we'll retry at {at}.", "detail": ""}
    if not integration.sync_enabled:
        return {"state": "paused", "headline": "Syncing is switched off.", "detail": ""}
    errors = [e for e in (integration.sync_errors or []) if isinstance(e, dict)]
    first = next((e.get("errorMessage") for e in errors if e.get("errorMessage")), "")
    if retry_at is not None and retry_at > now:
        at = local(retry_at, zone_name).strftime("%H:%M")
        return {"state": "retrying", "headline": f"The last sync didn't finish; we'll try again at {at}.", "detail": first}
    if integration.last_sync_status == "error":
        return {"state": "error", "headline": "The last sync didn't finish.", "detail": first or "We'll try again automatically."}
    if integration.last_sync_status == "partial":
        return {"state": "partial", "headline": "The last sync finished, but some events couldn't be synced.", "detail": first}
    if integration.last_sync_status == "pending" or integration.last_sync_at is None:
        return {"state": "pending", "headline": "The first sync hasn't finished yet.", "detail": ""}
    return {"state": "ok", "headline": "Outlook is connected and in step with WedSync.", "detail": ""}


def outlook_side(row, zone_name: str | None) -> tuple[str, str]:
    """``(title, when)`` of a synced event as Outlook held it when WedSync last read or wrote it ("" if never)."""
    seen = row.outlook_last_seen or {}
    if seen.get("deleted"):
        return "(deleted in Outlook)", ""
    title = seen.get("title", "")
    start = seen.get("start") or ""
    if not start:
        return title, ""
    try:
        if seen.get("allDay") or len(start) == 10:
            return title, f"{dt.date.fromisoformat(start[:10]):%a %-d %b %Y} (all day)"
        return title, format_datetime(dt.datetime.fromisoformat(start.replace("Z", "+00:00")), zone_name)
    except ValueError:
        return title, ""
