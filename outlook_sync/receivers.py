"""Listens to the WedSync events domain: a committed change is pushed to Outlook by a worker."""
from __future__ import annotations

from django.dispatch import receiver

from wedsync.events.signals import event_changed, scheduling_warnings

from . import selectors, tasks
from .models import OutlookCalendarIntegration
from .sources import SYNC_SOURCE


@receiver(event_changed, dispatch_uid="outlook_sync.push_on_commit")
def push_on_commit(sender, *, event_id, supplier_id, version, change, source, **kwargs) -> None:
    """The signal is sent after commit, so the task never sees a change that rolled back."""
    if source == SYNC_SOURCE:
        return
    integration_id = (
        OutlookCalendarIntegration.objects.filter(user_id=supplier_id, sync_enabled=True, needs_reauthorization=False, needs_setup=False)
        .exclude(sync_direction="from_outlook")
        .values_list("id", flat=True)
        .first()
    )
    if integration_id is not None:
        tasks.schedule_push(integration_id)


@receiver(scheduling_warnings, dispatch_uid="outlook_sync.busy_time_warnings")
def busy_time_warnings(sender, *, supplier, event, **kwargs) -> list[str]:
    """Warn when a WedSync event lands on time that is busy in Outlook."""
    if event.is_deleted:
        return []
    return selectors.busy_conflicts(supplier, starts_at=event.starts_at, ends_at=event.ends_at)
