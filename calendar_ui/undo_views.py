"""Undo from the history (issue 18): a confirmation saying what will change on each side, then an undo run.

``GET`` shows the run's changes (each with its own Undo) and what "Undo this
sync" (or undoing one change) will do in WedSync and in Outlook; ``POST``
starts the undo run (queued behind a run in progress) through the same
function as the API, and returns to the settings page, whose history shows it.
"""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from outlook_sync import actions, selectors, undoing
from outlook_sync.models import OutlookSyncChange, OutlookSyncHistory, SyncStatus
from outlook_sync.sync import undo

from . import display


def _integration_or_404(request):
    integration = selectors.supplier_integration(request.user)
    if integration is None:
        raise Http404("Outlook isn't connected.")
    return integration


def _run_or_404(integration, sync_id) -> OutlookSyncHistory:
    run = OutlookSyncHistory.objects.filter(integration=integration, pk=sync_id).first()
    if run is None:
        raise Http404("No such sync.")
    return run


def _confirm_or_start(request, integration, run, changes, *, scope: str, post_url: str):
    if request.method == "POST":
        if run.sync_status == SyncStatus.IN_PROGRESS:
            messages.error(request, "This sync hasn't finished yet. You can undo it once it has.")
        elif not changes:
            messages.error(request, "There is nothing left to undo there: it has already been undone.")
        else:
            try:
                undoing.start(integration, changes)
            except undo.AlreadyUndone:
                messages.error(request, "That change has already been undone.")
            except actions.ActionError as exc:  # e.g. 409 while Outlook is being disconnected
                messages.error(request, exc.message)
            else:
                messages.success(request, "Undo started. Both calendars are being put back; the sync history shows it as “Undo”.")
        return redirect(reverse("outlook-settings"))
    zone_name = display.supplier_time_zone(request.user)
    all_changes = list(undo.changes_of_run(integration, run).select_related("event", "undone_by").order_by("created_at"))
    still_open = {c.pk for c in undo.open_changes(all_changes)}
    return render(request, "calendar_ui/undo.html", {
        "run": run, "scope": scope, "post_url": post_url,
        "when": display.format_datetime(run.started_at, zone_name),
        "what": display.SYNC_TYPE_LABELS.get(run.sync_type, run.sync_type),
        "preview": undo.describe(integration, changes),
        "changes": [{"change": c, "open": c.pk in still_open, "preview": p}
                    for c, p in zip(all_changes, undo.describe(integration, all_changes))],
        "in_progress": run.sync_status == SyncStatus.IN_PROGRESS,
    })


@login_required
@require_http_methods(["GET", "POST"])
def outlook_undo_run(request, sync_id):
    integration = _integration_or_404(request)
    run = _run_or_404(integration, sync_id)
    changes = undo.open_changes(undo.changes_of_run(integration, run).select_related("event").order_by("created_at"))
    return _confirm_or_start(request, integration, run, changes, scope="run", post_url=reverse("outlook-undo-run", args=[run.pk]))


@login_required
@require_http_methods(["GET", "POST"])
def outlook_undo_change(request, sync_id, change_id):
    integration = _integration_or_404(request)
    run = _run_or_404(integration, sync_id)
    change = OutlookSyncChange.objects.filter(integration=integration, run=run, pk=change_id).select_related("event").first()
    if change is None:
        raise Http404("No such change.")
    changes = undo.open_changes(undo.with_partners(integration, change))
    return _confirm_or_start(request, integration, run, changes, scope="change", post_url=reverse("outlook-undo-change", args=[run.pk, change.pk]))
