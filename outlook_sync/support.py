"""Least-privilege support: the "Support" group, and the four support actions with their audit trail.

Support staff see integrations, runs, synced events, busy time (without
subjects) and notifications, and may run four actions on an integration:
a sync (incremental or full), renew the change subscription, clear conflicts,
and ask the supplier to reconnect. They cannot edit users (so cannot set a
password or sign in as a supplier) and nothing in the integration's history can
be deleted from the admin by anyone. Every action writes one
:class:`~outlook_sync.models.OutlookSupportAuditEntry` per integration.
"""
from __future__ import annotations

from django.apps import apps as global_apps
from django.db import transaction

from . import actions, tasks
from .models import OutlookCalendarIntegration, OutlookSupportAuditEntry, SupportAction, SyncType

SUPPORT_GROUP = "Support"
#: The one permission the four actions need (superusers have it implicitly).
RUN_SUPPORT_ACTIONS = "outlook_sync.run_support_actions"
#: Models support may look at (view permission only).
VIEWABLE = {
    "outlook_sync": ["outlookcalendarintegration", "outlookeventmapping", "outlooksynchistory", "outlookbusytime",
                     "outlooknotification", "outlooksupportauditentry", "outlookdisconnect"],
    "events": ["calendarevent"],
}
RECONNECT_REASON = "WedSync support asked you to reconnect Outlook. Please connect it again to keep your calendars in sync."


def ensure_support_group(apps=global_apps):
    """Create (or reset) the Support group: view permissions plus ``run_support_actions``, nothing else. Idempotent."""
    from django.contrib.auth.management import create_permissions

    for label in ("outlook_sync", "events", "auth"):
        config = apps.get_app_config(label)
        stub = getattr(config, "models_module", None) is None  # a migration's historical app (Django's documented recipe)
        if stub:
            config.models_module = True
        create_permissions(config, apps=apps, verbosity=0)
        if stub:
            config.models_module = None
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    group, _ = group_model.objects.get_or_create(name=SUPPORT_GROUP)
    # A data migration sees the models of its moment: one added later is skipped here, and the migration that adds
    # it to VIEWABLE runs this again (e.g. 0011_disconnect2_support_views_disconnects).
    wanted = [permission_model.objects.get(content_type__app_label=app, codename=f"view_{model}")
              for app, models in VIEWABLE.items() for model in models if _has_model(apps, app, model)]
    wanted.append(permission_model.objects.get(content_type__app_label="outlook_sync", codename="run_support_actions"))
    group.permissions.set(wanted)
    return group


def _has_model(apps, app_label: str, model_name: str) -> bool:
    try:
        apps.get_model(app_label, model_name)
    except LookupError:
        return False
    return True


def can_run(user) -> bool:
    return bool(user.is_active and user.is_staff and (
        user.is_superuser or user.has_perm(RUN_SUPPORT_ACTIONS) or user.has_perm("outlook_sync.change_outlookcalendarintegration")
    ))


def _audit(user, integration: OutlookCalendarIntegration, action: str, outcome: str) -> OutlookSupportAuditEntry:
    return OutlookSupportAuditEntry.objects.create(
        integration=integration, integration_label=str(integration)[:400], actor=user, actor_username=user.get_username(),
        action=action, outcome=outcome[:2000],
    )


def sync(user, integrations, *, full: bool) -> tuple[int, list[str]]:
    """Start an incremental sync or a full resync of each integration; returns (started, refusals in words)."""
    action = SupportAction.FULL_RESYNC if full else SupportAction.INCREMENTAL_SYNC
    started, refusals = 0, []
    for integration in integrations:
        try:
            with transaction.atomic():
                run, _ = actions.request_sync(integration, sync_type=SyncType.FULL_SYNC if full else SyncType.INCREMENTAL, triggered_by="admin")
                _audit(user, integration, action, f"started run {run.pk}")
            started += 1
        except actions.ActionError as exc:
            _audit(user, integration, action, f"skipped: {exc.message}")
            refusals.append(f"{integration}: {exc.message}")
    return started, refusals


def renew_subscription(user, integrations) -> int:
    """Queue a renewal (or re-creation) of each integration's change subscription."""
    count = 0
    for integration in integrations:
        with transaction.atomic():
            _audit(user, integration, SupportAction.RENEW_SUBSCRIPTION, "queued")
            integration_id = str(integration.pk)
            transaction.on_commit(lambda integration_id=integration_id: tasks.enqueue(tasks.ensure_subscription, integration_id))
        count += 1
    return count


def clear_conflicts(user, integrations) -> int:
    """Put every conflicted event back to "waiting to sync" (the next run merges again); returns events reset."""
    total = 0
    for integration in integrations:
        with transaction.atomic():
            reset = actions.clear_conflicts([integration.pk])
            _audit(user, integration, SupportAction.CLEAR_CONFLICTS, f"{reset} event(s) reset")
        total += reset
    return total


def request_reconnect(user, integrations) -> int:
    """Ask the supplier to reconnect: sync pauses and their settings page says why until they sign in again."""
    count = 0
    for integration in integrations:
        with transaction.atomic():
            OutlookCalendarIntegration.objects.filter(pk=integration.pk).update(needs_reauthorization=True, reauthorization_reason=RECONNECT_REASON)
            _audit(user, integration, SupportAction.REQUEST_RECONNECT, "supplier asked to reconnect")
        count += 1
    return count
