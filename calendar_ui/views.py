"""The supplier's Outlook settings page. Uses the same actions and selectors as the API.

Views parse input, call one action or selector, and render; htmx requests get
the partial that changed, plain requests the whole page (everything works
without JavaScript, htmx only saves reloads).
"""
from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Case, F, Q, Value, When
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from outlook_sync import actions, selectors
from outlook_sync.models import MappingState, OutlookEventMapping, SyncType
from outlook_sync.sync import mapping, runs
from wedsync.events import actions as event_actions
from wedsync.events import selectors as event_selectors
from wedsync.events.models import CalendarEvent
from wedsync.events.signals import collect_scheduling_warnings

from . import display
from .forms import BusyCheckForm, ConflictChoiceForm, EventForm, MappedEventsFilterForm, PreferencesForm

ActionError = actions.ActionError
#: A run that finished this recently is still shown in the progress box when the page loads.
RECENT_RUN = dt.timedelta(seconds=90)


def _integration_or_404(request):
    """The signed-in supplier's own integration; nobody else's is reachable from these views."""
    integration = selectors.supplier_integration(request.user)
    if integration is None:
        raise Http404("Outlook isn't connected.")
    return integration


def _raise_404_for(exc: ActionError) -> None:
    if exc.status_code == 404:
        raise Http404(exc.message)


# --------------------------------------------------------------------------- settings page


@login_required
@require_GET
def outlook_settings(request):
    integration = selectors.supplier_integration(request.user)
    if integration is None:
        return render(request, "calendar_ui/outlook_settings.html", {"integration": None})
    if integration.connection_state != "connected":
        return redirect(reverse("outlook-disconnect"))  # being disconnected: the page with its progress
    if integration.needs_setup:
        return redirect(reverse("outlook-setup"))
    calendars, calendars_error = _calendars(integration)
    form = PreferencesForm(integration=integration, calendars=calendars)
    return render(request, "calendar_ui/outlook_settings.html", _page_context(request, integration, form, calendars_error))


def _calendars(integration):
    """The account's calendars for the picker; None (and a message) when Outlook can't be asked right now."""
    if integration.needs_reauthorization:
        return None, "Reconnect Outlook to choose a different calendar."
    try:
        return actions.account_calendars(integration), ""
    except ActionError as exc:
        return None, exc.message


def _page_context(request, integration, form, calendars_error="") -> dict:
    now = timezone.now()
    zone_name = display.supplier_time_zone(request.user)
    # The run in progress (the one that started first), else the one that finished last, moments ago (e.g. the
    # first sync right after connecting): one query, in-progress runs sorted before finished ones.
    in_progress = Q(sync_status="in_progress")
    running = (
        integration.sync_history.filter(in_progress | Q(completed_at__gte=now - RECENT_RUN))
        .order_by(Case(When(in_progress, then=Value(0)), default=Value(1)), Case(When(in_progress, then=F("started_at"))).asc(nulls_last=True),
                  F("completed_at").desc(nulls_last=True))
        .first()
    )
    if running is not None and running.sync_status != "in_progress" and integration.needs_reauthorization:
        running = None  # a finished run's "100%" would hide that syncing is paused
    stats = selectors.sync_stats(integration)
    # The navigation's conflict badge shows the same number: the context processor takes it from here.
    request.open_conflicts = stats["conflictedEvents"]
    return {
        "integration": integration,
        "form": form,
        "calendars_error": calendars_error,
        "direction_help": {value: text for value, _, text in display.DIRECTION_CHOICES},
        "type_switches": display.TYPE_SWITCHES,
        "stats": stats,
        "webhook": selectors.webhook_status(integration),
        "running": _run_context(request.user, running) if running else None,
        "history": _history_rows(request.user, integration, zone_name),
        # Formatted here: template date filters would turn it back into the site's zone.
        "throttled_until": display.local(integration.throttled_until, zone_name).strftime("%H:%M") if integration.throttled_until and integration.throttled_until > now else None,
        "last_sync_at": display.format_datetime(integration.last_sync_at, zone_name),
        "zone_name": zone_name,
        "health": _health(integration, zone_name, now=now),
    }


def _health(integration, zone_name: str, *, now=None) -> dict:
    retry = runs.waiting_retry(integration.pk)
    return display.integration_health(integration, now=now, zone_name=zone_name, retry_at=retry.retry_at if retry else None)


def _history_rows(user, integration, zone_name: str) -> list[dict]:
    runs = selectors.recent_history(integration)
    titles = display.event_titles(user, [run.sync_errors for run in runs])
    touched = selectors.changes_of_runs(runs)
    return [{
        "names": ", ".join(dict.fromkeys(c.event_title or "your sync settings" for c in touched.get(run.pk, []))),
        "run": run,
        "when": display.format_datetime(run.started_at, zone_name),
        "what": display.SYNC_TYPE_LABELS.get(run.sync_type, run.sync_type),
        "why": display.TRIGGER_LABELS.get(run.triggered_by, ""),
        "status": ("Waiting" if run.sync_status == "in_progress" and run.is_queued
                   else "Done, with problems" if run.sync_status == "completed" and (run.sync_errors or run.error_events)
                   else display.RUN_STATUS_LABELS.get(run.sync_status, run.sync_status)),
        "errors": display.readable_errors(run.sync_errors, titles=titles, limit=3),
    } for run in runs]


@login_required
@require_POST
def outlook_preferences(request):
    integration = _integration_or_404(request)
    calendars, calendars_error = _calendars(integration)
    form = PreferencesForm(request.POST, integration=integration, calendars=calendars)
    saved = False
    before = mapping.SyncPreferences.from_json(integration.sync_preferences or {})
    if form.is_valid():
        try:
            outcome = actions.update_settings(integration, form.changes())
        except ActionError as exc:
            form.add_action_errors(exc.details, exc.message)
        else:
            saved = True
            integration.refresh_from_db()
            confirmation = _settings_confirmation(before, integration, outcome)
            messages.success(request, confirmation)
            if not request.htmx:
                return redirect(reverse("outlook-settings"))
            calendars, calendars_error = _calendars(integration)
            form = PreferencesForm(integration=integration, calendars=calendars)
    context = _page_context(request, integration, form, calendars_error)
    if saved:
        context["confirmation"] = confirmation
    if request.htmx:
        context["saved"] = saved
        response = render(request, "calendar_ui/partials/settings_panel.html", context)
        return response
    return render(request, "calendar_ui/outlook_settings.html", context, status=200 if saved else 400)


def _settings_confirmation(before: mapping.SyncPreferences, integration, outcome: dict) -> str:
    """What saving really did, in words: a resync only when one was started; reminders and invitations only shape later writes."""
    after = mapping.SyncPreferences.from_json(integration.sync_preferences or {})
    parts = ["Your Outlook settings are saved."]
    resyncing = outcome.get("requiresFullResync") and integration.sync_enabled and not integration.needs_reauthorization
    if resyncing:
        parts.append("WedSync is now bringing the events in Outlook in line with them; the progress is shown above.")
    elif outcome.get("requiresFullResync"):
        parts.append("Outlook will follow them once syncing is on and connected.")
    if before.notification_minutes != after.notification_minutes and not resyncing:
        parts.append("The new reminders are used as WedSync next writes each event to Outlook; nothing is rewritten now.")
    if before.invite_attendees_for != after.invite_attendees_for:
        parts.append("The invitation choice applies to single new events from now on; no one is emailed because of this change.")
    if outcome.get("busyCalendarsAdded") and not resyncing and integration.sync_enabled:
        parts.append("The calendars you ticked are being read now, so double bookings against them are caught.")
    if not integration.sync_enabled:
        parts.append("Syncing is switched off, so nothing is sent to Outlook.")
    return " ".join(parts)


# --------------------------------------------------------------------------- sync now + progress


def _run_context(user, run) -> dict:
    titles = display.event_titles(user, [run.sync_errors])
    return {
        "run": run,
        "percent": display.run_percent(run),
        "total": runs.planned_total(run),
        "done": run.sync_status != "in_progress",
        "status": display.RUN_STATUS_LABELS.get(run.sync_status, run.sync_status),
        "errors": display.readable_errors(run.sync_errors, titles=titles),
        "eta": runs.estimated_time_remaining(run),
        "behind": run.is_queued and runs.queued_behind(run),
        "retry_at": (display.local(run.retry_at, display.supplier_time_zone(user)).strftime("%H:%M")
                     if run.retry_at and run.is_queued and run.sync_status == "in_progress" else None),
    }


@login_required
@require_POST
def outlook_sync_now(request):
    integration = _integration_or_404(request)
    sync_type = SyncType.FULL_SYNC if request.POST.get("sync_type") == SyncType.FULL_SYNC else SyncType.INCREMENTAL
    try:
        run, _events = actions.request_sync(integration, sync_type=sync_type)
    except ActionError as exc:
        if request.htmx:
            return render(request, "calendar_ui/partials/sync_progress.html", {"error": exc.message}, status=200)
        messages.error(request, exc.message)
        return redirect(reverse("outlook-settings"))
    if request.htmx:
        return render(request, "calendar_ui/partials/sync_progress.html", {"job": _run_context(request.user, run)})
    messages.info(request, "Sync started. This page shows its progress.")
    return redirect(reverse("outlook-settings"))


@login_required
@require_GET
def outlook_sync_progress(request, sync_id):
    integration = _integration_or_404(request)
    run = selectors.sync_job(integration, sync_id)
    if run is None:
        raise Http404("No such sync.")
    context = {"job": _run_context(request.user, run)}
    if context["job"]["done"]:
        # Refresh the counts and the history table alongside (out-of-band swaps).
        zone_name = display.supplier_time_zone(request.user)
        context.update(oob=True, integration=integration, stats=selectors.sync_stats(integration),
                       history=_history_rows(request.user, integration, zone_name),
                       last_sync_at=display.format_datetime(integration.last_sync_at, zone_name))
    return render(request, "calendar_ui/partials/sync_progress.html", context)


# --------------------------------------------------------------------------- disconnect


@login_required
@require_http_methods(["GET", "POST"])
def outlook_disconnect(request):
    """Disconnect, with the supplier's choice: remove WedSync's events from Outlook, or leave them as ordinary events.

    The POST only starts it (a worker removes the copies); the page then shows the progress, polled with htmx.
    """
    integration = selectors.supplier_integration(request.user)
    if integration is None or integration.connection_state != "connected":
        return _disconnect_progress_page(request, integration)
    if request.method == "GET":
        context = {"integration": integration, "events_in_outlook": integration.mappings.count(),
                   "with_guests": integration.mappings.filter(invites_attendees=True).count()}
        template = "calendar_ui/partials/disconnect_confirm.html" if request.htmx else "calendar_ui/disconnect.html"
        return render(request, template, context)
    keep = request.POST.get("events") == "keep"
    try:
        actions.disconnect(integration, remove_events=not keep)
    except ActionError as exc:
        messages.error(request, exc.message)
    return redirect(reverse("outlook-disconnect"))


def _disconnect_progress_page(request, integration):
    """The disconnect under way (or the last one, once finished); 404 when the supplier never disconnected."""
    record = selectors.disconnect_in_progress(integration) if integration is not None else selectors.latest_disconnect(request.user)
    if record is None:
        raise Http404("Outlook isn't connected.")
    if request.method != "GET":  # "Yes, disconnect" sent twice: the one under way
        return redirect(reverse("outlook-disconnect"))
    context = {"disconnect": record, "summary": selectors.disconnect_summary(record)}
    template = "calendar_ui/partials/disconnect_progress.html" if request.htmx else "calendar_ui/disconnect.html"
    return render(request, template, context)


@login_required
@require_GET
def outlook_disconnect_progress(request):
    """The progress box alone (htmx polls it every second while the worker disconnects)."""
    return _disconnect_progress_page(request, selectors.supplier_integration(request.user))


# --------------------------------------------------------------------------- conflict inbox


def _conflict_card(row: OutlookEventMapping, *, errors: dict | None = None, resolved_message: str = "") -> dict:
    event: CalendarEvent | None = row.event
    zone_name = event.time_zone if event else "UTC"
    type_label = display.EVENT_TYPE_LABELS.get(row.wedsync_event_type, row.wedsync_event_type)
    fields = []
    for conflict in row.sync_conflicts or []:
        name = conflict.get("field")
        item = {
            "field": name,
            "label": display.FIELD_LABELS.get(name, name),
            "suggested": conflict.get("suggestedResolution"),
            "error": (errors or {}).get(name, ""),
            "default_label": f"Always do this for {type_label.lower()} {display.CONFLICT_TYPE_LABELS.get(conflict.get('conflictType'), name)} conflicts",
        }
        if name == "deleted":
            wedsync_deleted = conflict.get("wedSyncValue") is None
            item.update(
                deleted=True,
                wedsync_text="Deleted in WedSync" if wedsync_deleted else display.summarise_snapshot(conflict.get("wedSyncValue"), zone_name),
                outlook_text="Deleted in Outlook" if not wedsync_deleted else display.summarise_snapshot(conflict.get("outlookValue"), zone_name),
                keep_wedsync_help="Delete it from Outlook too." if wedsync_deleted else "Keep the event and put it back in Outlook.",
                keep_outlook_help="Keep the event and restore it in WedSync." if wedsync_deleted else "Delete it from WedSync too.",
            )
        else:
            wedsync_value, outlook_value = conflict.get("wedSyncValue"), conflict.get("outlookValue")
            item.update(
                deleted=False,
                wedsync_text=display.format_field_value(name, wedsync_value, zone_name),
                outlook_text=display.format_field_value(name, outlook_value, zone_name),
                edit=_edit_initial(name, wedsync_value, zone_name),
            )
        fields.append(item)
    return {
        "row": row,
        "event": event,
        "title": event.title if event else "(event no longer in WedSync)",
        "type_label": type_label,
        "when": display.format_event_when(event) if event else "",
        "fields": fields,
        "general_error": (errors or {}).get("__all__", ""),
        "resolved_message": resolved_message,
    }


def _edit_initial(field: str, value, zone_name: str) -> dict:
    if field == "when" and isinstance(value, dict):
        if value.get("allDay"):
            try:
                last = (dt.date.fromisoformat(str(value["end"])[:10]) - dt.timedelta(days=1)).isoformat()
            except ValueError:
                last = ""
            return {"all_day": True, "start": str(value.get("start", ""))[:10], "end": last}
        zone = display.zone_or_default(zone_name)
        try:
            start, end = (dt.datetime.fromisoformat(str(value[k]).replace("Z", "+00:00")).astimezone(zone).strftime("%Y-%m-%dT%H:%M") for k in ("start", "end"))
        except (ValueError, KeyError):
            start = end = ""
        return {"all_day": False, "start": start, "end": end, "zone": zone_name}
    if field == "attendees":
        return {"text": "\n".join(value or [])}
    return {"text": value or ""}


@login_required
@require_GET
def outlook_conflicts(request):
    integration = _integration_or_404(request)
    rows = selectors.mapped_events(integration, status=MappingState.CONFLICT)
    return render(request, "calendar_ui/conflicts.html", {"integration": integration, "cards": [_conflict_card(row) for row in rows]})


def _mapped_row_or_404(integration, event_id):
    """One of this supplier's synced events, by WedSync event id (another supplier's is simply not found)."""
    row = selectors.mapped_events(integration).filter(wedsync_event_id=str(event_id)).first()
    if row is None:
        raise Http404("No such event.")
    return row


@login_required
@require_POST
def outlook_conflict_resolve(request, event_id):
    integration = _integration_or_404(request)
    row = _mapped_row_or_404(integration, event_id)
    form = ConflictChoiceForm(request.POST, time_zone=row.event.time_zone if row.event else "UTC")
    errors: dict = {}
    resolved_message = ""
    if not form.is_valid():
        errors["__all__"] = "Please choose what to keep."
    else:
        resolutions, set_as_default = form.resolution()
        try:
            row = actions.resolve_conflict(integration, str(event_id), resolutions=resolutions, set_as_default=set_as_default)
        except ActionError as exc:
            _raise_404_for(exc)
            errors = {key: str(value) for key, value in (exc.details or {}).items()} or {form.cleaned_data["field"]: exc.message}
            if not any(key in errors for key in (form.cleaned_data["field"], "__all__")):
                errors["__all__"] = exc.message
        else:
            choice = form.cleaned_data["use"]
            resolved_message = {"wedsync": "Kept the WedSync version.", "outlook": "Kept the Outlook version.", "custom": "Saved your version."}[choice]
            if row.sync_state != MappingState.CONFLICT:
                resolved_message += " Both calendars will match in a moment."
            if set_as_default and choice != "custom":
                resolved_message += " We'll do the same for similar conflicts from now on."
    card = _conflict_card(row, errors=errors, resolved_message=resolved_message)
    if request.htmx:
        return render(request, "calendar_ui/partials/conflict_card.html", {"card": card})
    if errors:
        messages.error(request, next(iter(errors.values())))
    else:
        messages.success(request, resolved_message)
    return redirect(reverse("outlook-conflicts"))


# --------------------------------------------------------------------------- mapped events


PAGE_SIZE = 20


@login_required
@require_GET
def outlook_events(request):
    integration = _integration_or_404(request)
    form = MappedEventsFilterForm(request.GET or None)
    filters: dict = {}
    zone_name = display.supplier_time_zone(request.user)
    if form.is_bound and form.is_valid():
        zone = display.zone_or_default(zone_name)
        data = form.cleaned_data
        filters = {
            "event_type": data.get("eventType") or None,
            "status": data.get("status") or None,
            "start": dt.datetime.combine(data["startDate"], dt.time(), zone) if data.get("startDate") else None,
            "end": dt.datetime.combine(data["endDate"] + dt.timedelta(days=1), dt.time(), zone) if data.get("endDate") else None,
        }
    rows = selectors.mapped_events(integration, **filters) if not (form.is_bound and form.errors) else selectors.mapped_events(integration).none()
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    prefix = mapping.SyncPreferences.from_json(integration.sync_preferences or {}).event_prefix
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "calendar_ui/events.html", {
        "integration": integration,
        "form": form,
        "page": page,
        "items": [_event_item(row, prefix) for row in page.object_list],
        "query": query.urlencode(),
        "health": _health(integration, zone_name),
        "last_sync_at": display.format_datetime(integration.last_sync_at, zone_name),
    })


def _event_item(row: OutlookEventMapping, prefix: str, message: str = "", error: str = "") -> dict:
    event = row.event
    zone_name = event.time_zone if event else "UTC"
    return {
        "row": row,
        "event": event,
        "title": event.title if event else "(deleted in WedSync)",
        "type_label": display.EVENT_TYPE_LABELS.get(row.wedsync_event_type, row.wedsync_event_type),
        "when": display.format_event_when(event) if event else "",
        # What Outlook held when we last read or wrote it, never WedSync's own values.
        "outlook_title": display.outlook_side(row, zone_name)[0],
        "outlook_when": display.outlook_side(row, zone_name)[1],
        "status": selectors.mapping_status(row),
        "status_label": display.MAPPING_STATUS_LABELS.get(selectors.mapping_status(row), row.sync_state),
        "last_synced": display.format_datetime(row.last_synced_at, zone_name),
        "last_error": (row.last_error or {}).get("errorMessage", ""),
        "can_resync": event is not None and not event.is_deleted,
        "message": message,
        "error": error,
    }


@login_required
@require_POST
def outlook_event_force_sync(request, event_id):
    integration = _integration_or_404(request)
    row = _mapped_row_or_404(integration, event_id)
    message = error = ""
    try:
        actions.force_sync_event(integration, str(event_id), direction="to_outlook")
    except ActionError as exc:
        _raise_404_for(exc)
        error = "This event needs your decision first: resolve its conflict, then sync it." if exc.error_code == "has_conflict" else exc.message
    else:
        message = "Sending this event to Outlook now."
    if request.htmx:
        prefix = mapping.SyncPreferences.from_json(integration.sync_preferences or {}).event_prefix
        return render(request, "calendar_ui/partials/event_row.html", {"item": _event_item(row, prefix, message, error)})
    (messages.error if error else messages.success)(request, error or message)
    return redirect(reverse("outlook-events"))


# --------------------------------------------------------------------------- WedSync events


@login_required
@require_GET
def event_list(request):
    zone_name = display.supplier_time_zone(request.user)
    zone = display.zone_or_default(zone_name)
    try:
        week_start = dt.date.fromisoformat(request.GET.get("week", ""))
    except ValueError:
        week_start = timezone.localdate(timezone=zone)
    week_start -= dt.timedelta(days=week_start.weekday())
    start = dt.datetime.combine(week_start, dt.time(), zone)
    end = start + dt.timedelta(days=7)
    events = event_selectors.supplier_events(request.user, start=start, end=end)
    days = []
    for offset in range(7):
        day = week_start + dt.timedelta(days=offset)
        day_events = [e for e in events if display.local(e.starts_at, zone_name).date() <= day <= (display.local(e.ends_at, zone_name) - dt.timedelta(seconds=1)).date()]
        days.append({"day": day, "events": [{"event": e, "when": display.format_event_when(e), "type_label": e.get_event_type_display()} for e in day_events]})
    return render(request, "calendar_ui/event_list.html", {
        "days": days, "week_start": week_start, "week_end": week_start + dt.timedelta(days=6),
        "prev_week": (week_start - dt.timedelta(days=7)).isoformat(), "next_week": (week_start + dt.timedelta(days=7)).isoformat(),
        "zone_name": zone_name,
    })


@login_required
@require_http_methods(["GET", "POST"])
def event_create(request):
    if request.method == "POST":
        form = EventForm(request.POST)
        if form.is_valid():
            try:
                event = event_actions.create_event(request.user, **form.event_values())
            except event_actions.EventValidationError as exc:
                form.add_action_errors(exc.errors)
            else:
                return _saved(request, event, created=True)
    else:
        zone_name = display.supplier_time_zone(request.user)
        tomorrow = timezone.localdate(timezone=display.zone_or_default(zone_name)) + dt.timedelta(days=1)
        starts = dt.datetime.combine(tomorrow, dt.time(10))
        form = EventForm(initial={"time_zone": zone_name, "event_type": "client_meeting", "starts_at": starts, "ends_at": starts + dt.timedelta(hours=1)})
    return render(request, "calendar_ui/event_form.html", {"form": form, "event": None}, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def event_edit(request, event_id):
    try:
        event = event_selectors.get_supplier_event(request.user, event_id)
    except CalendarEvent.DoesNotExist:
        raise Http404("No such event.") from None
    if event.is_deleted:
        raise Http404("This event was deleted.")
    if request.method == "POST":
        form = EventForm(request.POST)
        if form.is_valid():
            try:
                event = event_actions.update_event(event, **form.event_values())
            except event_actions.EventValidationError as exc:
                form.add_action_errors(exc.errors)
            else:
                return _saved(request, event, created=False)
    else:
        form = EventForm(initial=EventForm.initial_for(event))
    return render(request, "calendar_ui/event_form.html", {"form": form, "event": event}, status=400 if form.errors else 200)


def _saved(request, event, *, created: bool):
    messages.success(request, f"“{event.title}” is {'added to' if created else 'updated in'} your WedSync calendar.")
    for warning in collect_scheduling_warnings(event):
        messages.warning(request, f"Possible double booking: {warning}", extra_tags="double-booking")
    return redirect(reverse("event-edit", args=[event.pk]))


@login_required
@require_GET
def event_busy_check(request):
    """The live double-booking check under the start/end inputs (htmx)."""
    form = BusyCheckForm(request.GET)
    warnings: list[str] = []
    if form.is_valid() and (window := form.window()) is not None:
        data = form.cleaned_data
        warnings = event_selectors.own_clashes(request.user, starts_at=window[0], ends_at=window[1], event_type=data["event_type"],
                                               is_all_day=data["is_all_day"], exclude_event_id=data["event_id"])
        warnings += selectors.busy_conflicts(request.user, starts_at=window[0], ends_at=window[1], exclude_event_id=data["event_id"])
    return render(request, "calendar_ui/partials/busy_check.html", {"warnings": warnings})


@login_required
@require_GET
def event_invite_check(request):
    """Under the guests box (htmx): who, if anyone, Outlook will mail an invitation to when this event is saved.

    The engine's rule (``Run.invites_on_create``): only a single new event of a
    type chosen under "Send Outlook invitations for" carries its guests to
    Outlook; an event already in Outlook without its guests keeps it that way.
    """
    form = EventForm(request.GET)
    form.is_valid()  # only the two fields below are read; the rest may still be half-typed
    event_type = request.GET.get("event_type") or ""
    guests = form.cleaned_data.get("attendees") or []
    integration = selectors.supplier_integration(request.user)
    context = {"guests": guests, "state": "none"}
    if guests and integration is not None and integration.sync_enabled and integration.sync_direction != "from_outlook":
        prefs = mapping.SyncPreferences.from_json(integration.sync_preferences or {})
        event_id = request.GET.get("event_id") or ""
        row = OutlookEventMapping.objects.filter(integration=integration, wedsync_event_id=event_id, kind="event").first() if event_id else None
        names = [g.get("name") or g.get("email") for g in guests]
        context["names"] = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        context["plural"] = len(names) > 1
        if not mapping.is_type_synced(event_type, prefs):
            context["state"] = "not_synced"
        elif not prefs.invites(event_type):
            context["state"] = "type_not_invited"
        elif row is not None and not row.invites_attendees:
            context["state"] = "copy_without_guests"
        else:
            context["state"] = "invite"
    return render(request, "calendar_ui/partials/invite_check.html", context)


# --------------------------------------------------------------------------- connect (Microsoft sign-in)


@login_required
@require_POST
def outlook_connect(request):
    """The "Connect Outlook" button: off to Microsoft's sign-in page."""
    try:
        started = actions.start_connect(request.session, request.user)
    except actions.ActionError as exc:
        messages.error(request, exc.message)
        return redirect(reverse("outlook-settings"))
    return redirect(started["authUrl"])


@login_required
@require_GET
def outlook_callback(request):
    """Where Microsoft sends the supplier back after signing in (or cancelling)."""
    try:
        integration, calendars = actions.complete_connect(request.session, request.user, request.GET.dict())
    except actions.ActionError as exc:
        messages.error(request, exc.message)
    else:
        if integration.needs_setup:
            return redirect(reverse("outlook-setup"))
        messages.success(
            request,
            f"Outlook is connected as {integration.microsoft_account_email}. We'll keep “{integration.calendar_name}” in step with WedSync.",
        )
    return redirect(reverse("outlook-settings"))
