"""Start an undo (the API and the pages both call this): describe, claim, and queue the undo run.

Above :mod:`outlook_sync.sync` (it enqueues a task; the engine knows no tasks).
"""
from __future__ import annotations

from django.db import transaction

from wedsync.api_errors import ApiError

from . import disconnecting, tasks
from .models import OutlookCalendarIntegration, OutlookSyncChange, OutlookSyncHistory
from .sync import undo


def start(integration: OutlookCalendarIntegration, changes: list[OutlookSyncChange]) -> tuple[OutlookSyncHistory, list[dict]]:
    """Raises :class:`~outlook_sync.sync.undo.AlreadyUndone`; 409 ``disconnecting`` while Outlook is being disconnected."""
    if disconnecting.is_disconnecting(integration):
        raise ApiError("disconnecting", "Outlook is being disconnected, so there is nothing to undo in it any more.", status_code=409)
    preview = undo.describe(integration, changes)
    run, created, _ = undo.request_undo(integration, [c.pk for c in changes])
    if created:
        run_id = run.pk
        transaction.on_commit(lambda: tasks.enqueue(tasks.run_sync, run_id))
    return run, preview
