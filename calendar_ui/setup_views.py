"""The guided connect step (issue 17): after Microsoft sign-in, the supplier chooses, sees, then confirms.

The supplier picks the calendar WedSync writes to (or a new "WedSync"
calendar), ticks the calendars that count as busy for double-booking checks,
and chooses which event types may mail invitations; the preview says what the
first sync will do. Nothing is written to Outlook before "Start syncing":
until then the integration ``needs_setup`` and no run, push or subscription
starts. The calendar list is the one the worker cached (no call to Microsoft
here). Confirming is the same ``update_settings`` call as the API's
``PUT /settings`` with ``confirmSetup``.
"""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from outlook_sync import actions, selectors

from .forms import SetupForm


def _integration_or_404(request):
    integration = selectors.supplier_integration(request.user)
    if integration is None:
        raise Http404("Outlook isn't connected.")
    return integration


def _form(request, integration, data=None) -> SetupForm:
    choices = actions.setup_choices(integration)
    return SetupForm(data, integration=integration, calendars=choices["calendars"], busy_ids=choices["busyCalendarIds"])


def _preview(integration, form: SetupForm) -> dict:
    if form.is_bound and form.is_valid():
        return selectors.first_sync_preview(integration, calendar_name=form.calendar_name(), prefs=form.preferences(), busy_names=form.busy_names())
    return actions.setup_choices(integration)["preview"]


@login_required
@require_http_methods(["GET", "POST"])
def outlook_setup(request):
    integration = _integration_or_404(request)
    if not integration.needs_setup:
        return redirect(reverse("outlook-settings"))
    form = _form(request, integration, request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            preview = _preview(integration, form)
            try:
                actions.update_settings(integration, {**form.changes(), "confirmSetup": True})
            except actions.ActionError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, f"Outlook is connected as {integration.microsoft_account_email}. {preview['summary']} The progress is shown below.")
                return redirect(reverse("outlook-settings"))
        status = 400
    return render(request, "calendar_ui/setup.html", {"integration": integration, "form": form, "preview": _preview(integration, form)}, status=status)


@login_required
@require_GET
def outlook_setup_preview(request):
    """The preview under the choices, redrawn (htmx) whenever a choice changes."""
    integration = _integration_or_404(request)
    form = _form(request, integration, request.GET)
    return render(request, "calendar_ui/partials/setup_preview.html", {"preview": _preview(integration, form)})
