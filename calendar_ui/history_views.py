"""The sync history that explains (issues 17 and 18): what each run changed, by event, old -> new, per side.

One row per run naming the events it touched; expanding it lists each change
from the change journal with an "Undo" (the undo pages confirm what will
change on each side) and "Undo this sync". Runs that changed nothing and had
no trouble (mostly Outlook reporting our own writes coming back) are folded
away, with a count and a way to show them. Filter by event; 10 runs a page.
"""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET

from outlook_sync import selectors
from outlook_sync.models import OutlookSyncChange
from outlook_sync.sync import undo

from . import display

RUNS_PER_PAGE = 10
#: What the journal's field names are called on the page.
CHANGE_FIELD_LABELS = {**display.FIELD_LABELS, "subject": "Title in Outlook", "reminder": "Reminder", "attendees": "Guests"}
KIND_WORDS = {"created": "added", "updated": "changed", "deleted": "removed", "conflict_resolved": "conflict settled"}
SIDE_WORDS = {"wedsync": "WedSync", "outlook": "Outlook"}


def _value_text(field: str, value, zone_name: str) -> str:
    if field == "reminder":
        return "off" if value is None else display.reminder_label(int(value))
    if field == "subject":
        return value or "(empty)"
    return display.format_field_value(field, value, zone_name)


def _field_rows(change: OutlookSyncChange, zone_name: str) -> list[dict]:
    rows = []
    for name, values in (change.fields or {}).items():
        if not isinstance(values, dict):
            continue
        old, new = values.get("old"), values.get("new")
        if name == "syncPreferences":  # a settings change: one row per preference it changed
            old, new = old or {}, new or {}
            rows += [{"label": f"Setting “{key}”", "old": str(old.get(key)), "new": str(new.get(key))}
                     for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)]
            continue
        rows.append({"label": CHANGE_FIELD_LABELS.get(name, name), "old": None if change.kind == "created" else _value_text(name, old, zone_name),
                     "new": None if change.kind == "deleted" else _value_text(name, new, zone_name)})
    return rows


def change_item(change: OutlookSyncChange, zone_name: str, *, still_open: bool) -> dict:
    return {
        "change": change,
        "side": SIDE_WORDS.get(change.side, change.side),
        "kind": KIND_WORDS.get(change.kind, change.kind),
        "title": change.event_title or ("your sync settings" if not change.wedsync_event_id else "(untitled event)"),
        "fields": _field_rows(change, zone_name),
        "open": still_open,
    }


def _names(changes: list[OutlookSyncChange], limit: int = 4) -> str:
    titles = list(dict.fromkeys(c.event_title or "your sync settings" for c in changes))
    if len(titles) > limit:
        return ", ".join(titles[:limit]) + f" and {len(titles) - limit} more"
    return ", ".join(titles)


def run_item(run, changes: list[OutlookSyncChange], zone_name: str, titles: dict) -> dict:
    still_open = {c.pk for c in undo.open_changes(changes)}
    return {
        "run": run,
        "when": display.format_datetime(run.started_at, zone_name),
        "what": "Undo" if run.mode == "undo" else display.SYNC_TYPE_LABELS.get(run.sync_type, run.sync_type),
        "why": display.TRIGGER_LABELS.get(run.triggered_by, ""),
        "status": ("Done, with problems" if run.sync_status == "completed" and (run.sync_errors or run.error_events)
                   else display.RUN_STATUS_LABELS.get(run.sync_status, run.sync_status)),
        "errors": display.readable_errors(run.sync_errors, titles=titles, limit=3),
        "names": _names(changes),
        "changes": [change_item(c, zone_name, still_open=c.pk in still_open) for c in changes],
        "undoable": bool(still_open) and run.sync_status != "in_progress",
    }


@login_required
@require_GET
def outlook_history(request):
    integration = selectors.supplier_integration(request.user)
    if integration is None:
        raise Http404("Outlook isn't connected.")
    zone_name = display.supplier_time_zone(request.user)
    events = selectors.journaled_events(integration)
    event_id = request.GET.get("event") or ""
    if event_id and event_id not in {e for e, _ in events}:
        event_id = ""  # not one of this supplier's journaled events: show everything
    include_quiet = request.GET.get("quiet") == "1"
    page = Paginator(selectors.explained_history(integration, event_id=event_id or None, include_quiet=include_quiet), RUNS_PER_PAGE).get_page(request.GET.get("page"))
    runs = list(page.object_list)
    grouped = selectors.changes_of_runs(runs, event_id=event_id or None)
    titles = display.event_titles(request.user, [run.sync_errors for run in runs])
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "calendar_ui/history.html", {
        "integration": integration,
        "page": page,
        "items": [run_item(run, grouped.get(run.pk, []), zone_name, titles) for run in runs],
        "events": events,
        "event_id": event_id,
        "event_title": dict(events).get(event_id, ""),
        "include_quiet": include_quiet,
        "quiet_count": 0 if include_quiet or event_id else selectors.quiet_run_count(integration),
        "query": query.urlencode(),
    })
