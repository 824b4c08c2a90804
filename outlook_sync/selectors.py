"""Read models of the integration for the API and the settings page (no writes here)."""
from __future__ import annotations

import datetime as dt

from django.db.models import Case, CharField, Count, Exists, F, Max, Min, OuterRef, Q, Value, When
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from wedsync.events.models import CalendarEvent, EventType

from .sync import mapping
from .sync.window import sync_window
from .models import (DisconnectChoice, DisconnectStatus, MappingState, OutlookBusyTime, OutlookCalendarIntegration, OutlookDisconnect,
                     OutlookEventMapping, OutlookSyncChange, OutlookSyncHistory, SyncStatus, SyncType)

#: Renew a webhook subscription when less than this is left.
WEBHOOK_RENEWAL_MARGIN = dt.timedelta(hours=24)


def supplier_integration(user) -> OutlookCalendarIntegration | None:
    """The supplier's Outlook integration, or None when Outlook is not connected."""
    return OutlookCalendarIntegration.objects.filter(user=user).first()


def window():
    """The synced window (see ``SYNC_WINDOW_PAST_DAYS`` / ``SYNC_WINDOW_FUTURE_DAYS``)."""
    return sync_window()


def types_switched_off(prefs) -> list[str]:
    """Event types the supplier's preferences leave out of Outlook."""
    return [t for t in mapping.TYPE_SWITCH if not mapping.is_type_synced(t, prefs)]


def unmapped_in_scope(integration: OutlookCalendarIntegration):
    """Events never synced that belong in Outlook: live, in the window, of a switched-on type, no copy yet."""
    prefs = mapping.SyncPreferences.from_json(integration.sync_preferences or {})
    return unmapped_events(integration, *window()).exclude(event_type__in=types_switched_off(prefs))


def events_in_window(integration: OutlookCalendarIntegration, start, end):
    """The supplier's live WedSync events overlapping [start, end]."""
    return CalendarEvent.objects.filter(supplier_id=integration.user_id, is_deleted=False, ends_at__gte=start, starts_at__lte=end)


def unmapped_events(integration: OutlookCalendarIntegration, start, end):
    """Live WedSync events in the window with no Outlook copy yet (an anti-join), soonest first."""
    has_copy = OutlookEventMapping.objects.filter(integration=integration, event=OuterRef("pk"))
    return events_in_window(integration, start, end).exclude(Exists(has_copy)).order_by("starts_at")


def _changed_in_wedsync() -> Q:
    """The condition of :func:`mappings_changed_in_wedsync` on an event mapping."""
    return (
        Q(event__isnull=True) | Q(event__version__gt=F("synced_wedsync_version"))
        | Q(sync_state__in=[MappingState.PENDING, MappingState.REMOVING]) | Q(needs_recreate=True)
    )


def _status_in_api():
    """A mapping's ``syncStatus`` in SQL (see :func:`mapping_status`): ``conflict``/``error`` as stored, else
    ``pending`` while a WedSync change waits to reach Outlook (or a copy is being removed), else ``synced``."""
    return Case(
        When(sync_state__in=[MappingState.CONFLICT, MappingState.ERROR], then=F("sync_state")),
        When(_changed_in_wedsync(), then=Value(MappingState.PENDING.value)),
        default=Value(MappingState.SYNCED.value), output_field=CharField(),
    )


def mapping_status(row: OutlookEventMapping) -> str:
    """One of the spec's four ``syncStatus`` values for a mapping, true now: an event stored as synced whose WedSync
    side changed since (e.g. while Outlook needs reconnecting) is ``pending``, not ``synced``. Agrees with
    :func:`_status_in_api` (the filter and the counts of ``GET /events``) and with ``syncStats.pendingEvents``."""
    if row.sync_state in (MappingState.CONFLICT, MappingState.ERROR):
        return row.sync_state
    event = row.event
    if (row.sync_state in (MappingState.PENDING, MappingState.REMOVING) or row.needs_recreate or event is None
            or event.version > row.synced_wedsync_version):
        return MappingState.PENDING.value
    return MappingState.SYNCED.value


def mappings_changed_in_wedsync(integration: OutlookCalendarIntegration):
    """Event mappings whose WedSync event changed (or vanished) since it was last synced: what a push sends.

    Events "waiting to sync" (``PENDING``: after a resolution or "clear
    conflicts"), copies to make again (``needs_recreate``) and copies being
    removed from Outlook (``REMOVING``, until Outlook confirms) are included too.
    """
    return OutlookEventMapping.objects.filter(integration=integration, kind="event").filter(_changed_in_wedsync())


def sync_stats(integration: OutlookCalendarIntegration) -> dict:
    """``syncStats``: counts over the events in scope, including those never synced yet.

    The mapping counts are one aggregate (the changed ones through a LEFT JOIN to their events).
    """
    counts = OutlookEventMapping.objects.filter(integration=integration, kind="event").aggregate(
        total=Count("id"),
        conflicted=Count("id", filter=Q(sync_state=MappingState.CONFLICT)),
        errors=Count("id", filter=Q(sync_state=MappingState.ERROR)),
        changed=Count("id", filter=_changed_in_wedsync() & ~Q(sync_state__in=[MappingState.CONFLICT, MappingState.ERROR])),
    )
    never_synced = unmapped_in_scope(integration).count() if integration.sync_direction != "from_outlook" else 0
    changed = counts["changed"]
    last_full = (
        OutlookSyncHistory.objects.filter(integration=integration, sync_type=SyncType.FULL_SYNC, sync_status=SyncStatus.COMPLETED)
        .order_by("-completed_at").values_list("completed_at", flat=True).first()
    )
    return {
        "totalEvents": counts["total"] + never_synced,
        "syncedEvents": counts["total"] - counts["conflicted"] - counts["errors"] - changed,
        "pendingEvents": changed + never_synced,
        "conflictedEvents": counts["conflicted"],
        "lastFullSync": last_full,
        "nextScheduledSync": next_scheduled_sync(integration),
    }


#: The beat entry of the periodic safety-net sync (``CELERY_BEAT_SCHEDULE`` in settings).
SAFETY_NET_BEAT_ENTRY = "outlook-safety-net-sync"


def next_scheduled_sync(integration: OutlookCalendarIntegration, now: dt.datetime | None = None) -> dt.datetime | None:
    """When Celery beat next runs the safety-net sync, if that run will include this integration.

    Read from beat's own schedule (django-celery-beat's ``PeriodicTask``: last run + interval), so it is
    the real next run, not a guess; None when beat has never registered the task or it is disabled, or when
    the run would skip this integration (sync off, reconnect needed, no calendar).
    """
    if not integration.sync_enabled or integration.needs_reauthorization or not integration.calendar_id:
        return None
    task = PeriodicTask.objects.filter(name=SAFETY_NET_BEAT_ENTRY, enabled=True).select_related("interval", "crontab").first()
    if task is None:
        return None
    now = now or timezone.now()
    # As beat's ModelEntry does: a task that never ran counts from when it was last changed.
    last = task.last_run_at or task.date_changed or now
    if task.interval_id:
        due = last + task.interval.schedule.run_every
    else:
        due = now + task.schedule.remaining_estimate(last)
    if task.start_time and due < task.start_time:
        due = task.start_time
    return max(due, now)  # overdue: beat runs it at its next tick


def recent_history(integration: OutlookCalendarIntegration, limit: int = 10):
    from django.db.models import Exists, OuterRef

    from .models import OutlookSyncChange

    # has_changes: whether the run journaled anything (the history's "Undo this sync"), in the same query.
    return list(OutlookSyncHistory.objects.filter(integration=integration).annotate(has_changes=Exists(OutlookSyncChange.objects.filter(run=OuterRef("pk"))))
                .order_by("-started_at")[:limit])


def webhook_status(integration: OutlookCalendarIntegration) -> dict:
    now = timezone.now()
    active = bool(integration.webhook_enabled and integration.webhook_subscription_id and integration.webhook_expires_at and integration.webhook_expires_at > now)
    return {
        "isActive": active,
        "subscriptionId": integration.webhook_subscription_id if active else None,
        "expiresAt": integration.webhook_expires_at if active else None,
        "renewalNeeded": bool(integration.webhook_enabled and (not active or integration.webhook_expires_at - now < WEBHOOK_RENEWAL_MARGIN)),
    }


def sync_job(integration: OutlookCalendarIntegration, sync_id) -> OutlookSyncHistory | None:
    """A run of this supplier's integration only (another supplier's id is simply not found)."""
    return OutlookSyncHistory.objects.filter(integration=integration, pk=sync_id).first()


def _mapped_rows(integration: OutlookCalendarIntegration):
    return OutlookEventMapping.objects.filter(integration=integration, kind="event").annotate(status_in_api=_status_in_api())


def _applied(*, event_type=None, status=None, start=None, end=None) -> Q:
    """The filters ``GET /events`` allows, as one condition on an event mapping."""
    condition = Q()
    if event_type:
        condition &= Q(wedsync_event_type=event_type)
    if status:
        condition &= Q(status_in_api=status)
    if start:
        condition &= Q(event__ends_at__gte=start)
    if end:
        condition &= Q(event__starts_at__lte=end)
    return condition


def mapped_events(integration: OutlookCalendarIntegration, *, event_type=None, status=None, start=None, end=None):
    """Mappings (with their WedSync events) filtered as ``GET /events`` allows, soonest first."""
    return (_mapped_rows(integration).select_related("event").filter(_applied(event_type=event_type, status=status, start=start, end=end))
            .order_by("event__starts_at", "id"))


def event_filters(integration: OutlookCalendarIntegration, *, event_type=None, status=None, start=None, end=None) -> tuple[dict, int]:
    """``filters`` of ``GET /events`` and how many rows :func:`mapped_events` lists with the same filters.

    ``eventTypes`` / ``syncStatuses``: the filter applied, or (none applied) every value present among the
    synced events. ``dateRange``: the range applied, else the span of the synced events (left out when empty).
    ``available`` (a WedSync addition) always lists the values present and the full span.

    One query whatever the number of events: the mappings grouped by (type, state), each group with its
    span and how many of its rows the filters keep (the page's total, so the paginator needs no COUNT).
    """
    applied = _applied(event_type=event_type, status=status, start=start, end=end)
    groups = list(
        _mapped_rows(integration).order_by().values("wedsync_event_type", "status_in_api")
        .annotate(start=Min("event__starts_at"), end=Max("event__ends_at"), matching=Count("id", filter=applied or None))
    )
    present_types = sorted({g["wedsync_event_type"] for g in groups})
    present_statuses = sorted({g["status_in_api"] for g in groups})
    starts = [g["start"] for g in groups if g["start"] is not None]
    ends = [g["end"] for g in groups if g["end"] is not None]
    span = {"start": min(starts) if starts else None, "end": max(ends) if ends else None}
    available = {"eventTypes": present_types, "syncStatuses": present_statuses}
    if span["start"] is not None:
        available["dateRange"] = {"start": span["start"], "end": span["end"]}
    filters = {
        "eventTypes": [event_type] if event_type else present_types,
        "syncStatuses": [status] if status else present_statuses,
        "applied": {"eventType": event_type, "status": status, "startDate": start, "endDate": end},
        "available": available,
    }
    applied_start, applied_end = start or span["start"], end or span["end"]
    if applied_start is not None and applied_end is not None:
        filters["dateRange"] = {"start": applied_start, "end": applied_end}
    return filters, sum(g["matching"] for g in groups)


def busy_intervals(integration: OutlookCalendarIntegration, start: dt.datetime, end: dt.datetime):
    """Outlook-only busy time overlapping [start, end): the synced calendar's and every calendar ticked as busy."""
    return OutlookBusyTime.objects.filter(integration=integration, starts_at__lt=end, ends_at__gt=start).exclude(show_as="free").order_by("starts_at")


def busy_conflicts(supplier, *, starts_at, ends_at, exclude_event_id=None) -> list[str]:
    """Warnings for a WedSync event placed over Outlook-only busy time ("You have 'Dentist' in Outlook at that time")."""
    integration = supplier_integration(supplier)
    if integration is None:
        return []
    rows = busy_intervals(integration, starts_at, ends_at)[:5]
    names = dict(integration.busy_calendars.values_list("calendar_id", "name")) if any(r.calendar_id for r in rows) else {}
    return [f"You have “{r.subject or 'something'}” in Outlook{_in_calendar(names.get(r.calendar_id))} at that time." for r in rows]


def _in_calendar(name: str | None) -> str:
    return f" (your “{name}” calendar)" if name else ""


def first_sync_preview(integration: OutlookCalendarIntegration, *, calendar_name: str, prefs=None, direction: str | None = None,
                       busy_names: list[str] | None = None) -> dict:
    """What confirming the guided connect step will do, in numbers and in one plain sentence.

    ``prefs``, ``direction`` and ``busy_names`` are the choices on screen (the
    integration's stored ones when left out). The first sync only adds
    WedSync's events to the chosen calendar: Outlook's own events stay there
    and count as busy time, and an initial sync never mails anyone.
    """
    prefs = prefs or mapping.SyncPreferences.from_json(integration.sync_preferences or {})
    direction = direction or integration.sync_direction
    if busy_names is None:
        busy_names = list(integration.busy_calendars.exclude(calendar_id=integration.calendar_id or "").values_list("name", flat=True))
    pushes = direction != "from_outlook"
    adding = unmapped_events(integration, *window()).exclude(event_type__in=types_switched_off(prefs)).count() if pushes else 0
    where = f"“{calendar_name}”" if calendar_name else "your Outlook calendar"
    noun = "event" if adding == 1 else "events"
    parts = [f"{adding} {noun} will be added to {where}; no one will be emailed." if pushes
             else f"Nothing will be added to {where}: you chose Outlook → WedSync only. No one will be emailed."]
    checked = [where, *(f"“{n}”" for n in busy_names)]
    parts.append(f"Double bookings will be checked against {_and_list(checked)}.")
    invited = sorted(prefs.invite_attendees_for & mapping.INVITABLE_TYPES)
    if invited and pushes:
        labels = [EventType(t).label.lower() for t in invited]
        parts.append(f"Later, a single new {_and_list(labels, 'or')} you add will send its guests an Outlook invitation.")
    return {"eventsToAdd": adding, "calendarName": calendar_name, "invitationsSent": 0, "busyCalendars": busy_names, "summary": " ".join(parts)}


def _and_list(items: list[str], word: str = "and") -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" {word} " + items[-1]


def explained_history(integration: OutlookCalendarIntegration, *, event_id: str | None = None, include_quiet: bool = False):
    """Runs for the history page, newest first, each annotated with ``has_changes`` (whether it journaled anything).

    A run that changed nothing and had no trouble (most often Outlook telling
    us about our own write coming back, or a check that found nothing new) is
    "quiet": left out unless ``include_quiet``. ``event_id`` keeps the runs that
    changed that WedSync event.
    """
    changes = OutlookSyncChange.objects.filter(run=OuterRef("pk"))
    if event_id:
        changes = changes.filter(wedsync_event_id=str(event_id))
    runs = OutlookSyncHistory.objects.filter(integration=integration).annotate(has_changes=Exists(OutlookSyncChange.objects.filter(run=OuterRef("pk"))))
    if event_id:
        runs = runs.filter(Exists(changes))
    elif not include_quiet:
        runs = runs.filter(~_quiet())
    return runs.order_by("-started_at")


def _quiet() -> Q:
    return Q(has_changes=False, sync_status=SyncStatus.COMPLETED, conflicts_detected=0, error_events=0, sync_errors=[])


def quiet_run_count(integration: OutlookCalendarIntegration) -> int:
    """How many runs :func:`explained_history` folds away."""
    return (OutlookSyncHistory.objects.filter(integration=integration)
            .annotate(has_changes=Exists(OutlookSyncChange.objects.filter(run=OuterRef("pk")))).filter(_quiet()).count())


def journaled_events(integration: OutlookCalendarIntegration, limit: int = 200) -> list[tuple[str, str]]:
    """``(wedsync_event_id, title)`` of the events the journal names, most recently changed first (the history's filter)."""
    rows = (OutlookSyncChange.objects.filter(integration=integration).exclude(wedsync_event_id="")
            .values("wedsync_event_id").annotate(last=Max("created_at"), title=Max("event_title")).order_by("-last")[:limit])
    return [(r["wedsync_event_id"], r["title"] or "(untitled event)") for r in rows]


def changes_of_runs(runs, *, event_id: str | None = None) -> dict:
    """The journaled changes of these runs: ``{run_id: [change, ...]}`` in the order they were made (one query)."""
    changes = OutlookSyncChange.objects.filter(run__in=[r.pk for r in runs]).select_related("undone_by").order_by("created_at")
    if event_id:
        changes = changes.filter(wedsync_event_id=str(event_id))
    grouped: dict = {r.pk: [] for r in runs}
    for change in changes:
        grouped[change.run_id].append(change)
    return grouped


# --- disconnect ---
def disconnect_in_progress(integration: OutlookCalendarIntegration) -> OutlookDisconnect | None:
    """The disconnect a worker is carrying out for this integration, if any."""
    return OutlookDisconnect.objects.filter(integration=integration, status=DisconnectStatus.IN_PROGRESS).first()


def latest_disconnect(user) -> OutlookDisconnect | None:
    """The supplier's most recent disconnect (in progress or finished), or None."""
    return OutlookDisconnect.objects.filter(user=user).order_by("-requested_at").first()


def _events(n: int) -> str:
    return f"{n} event{'s' if n != 1 else ''}"


def disconnect_summary(record: OutlookDisconnect) -> str:
    """Where the disconnect stands, in the supplier's words (the page and ``GET /integration`` show the same)."""
    remove = record.choice == DisconnectChoice.REMOVE
    if record.status == DisconnectStatus.IN_PROGRESS:
        if not remove:
            return f"Disconnecting… leaving {_events(record.events_kept)} in your Outlook calendar."
        return f"Disconnecting… {record.events_removed} of {record.events_to_remove} removed."
    if not remove:
        return (f"Outlook is disconnected. We left {_events(record.events_kept)} in your Outlook calendar as ordinary events "
                "and stopped syncing; nobody was emailed. Your WedSync calendar keeps all its events.")
    text = (f"Outlook is disconnected. We removed {_events(record.events_removed)} WedSync had added to your Outlook calendar "
            "and stopped syncing. Your own Outlook events were not touched, and your WedSync calendar keeps all its events.")
    if record.events_not_removed:
        text += (f" {record.problem} We couldn't remove the other {_events(record.events_not_removed)} WedSync had added: "
                 "they are still in your Outlook calendar as ordinary events, and you can delete them there.")
    return text
