"""The change journal (issue 18): what each run changed on each side, buffered and written in bulk.

The engine calls :meth:`Journal.record` where it applies a change (a WedSync
write, an Outlook create, update or delete) and :meth:`Journal.flush` with its
progress (at most every half second, and when the run ends): one INSERT for many
changes, so the journal costs far less than one query per changed event.

Values are the supplier's view (see :class:`~outlook_sync.models.OutlookSyncChange`):
never tokens, change keys, Outlook ids or other provider internals.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.utils import timezone

from ..models import ChangeKind, ChangeSide, OutlookSyncChange, OutlookSyncHistory

#: The fields a change can name, in display order.
FIELDS = ("title", "subject", "when", "location", "description", "attendees", "reminder")


def diff(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None, names: Iterable[str] | None = None) -> dict[str, dict]:
    """``{field: {"old", "new"}}`` for the snapshot fields that differ (all of ``names`` when given)."""
    old, new = old or {}, new or {}
    names = list(names) if names is not None else [n for n in FIELDS if n in old or n in new]
    return {n: {"old": _plain(old.get(n)), "new": _plain(new.get(n))} for n in names if old.get(n) != new.get(n)}


def _plain(value):
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class Journal:
    """The changes of one run, buffered until :meth:`flush`."""

    def __init__(self, run: OutlookSyncHistory):
        self.run = run
        self.pending: list[OutlookSyncChange] = []

    def record(self, *, side: str, kind: str, event=None, event_id: str = "", title: str = "", fields: Mapping[str, Any] | None = None) -> None:
        if kind == ChangeKind.UPDATED and not fields:
            return  # nothing the supplier would see changed
        if kind == ChangeKind.UPDATED and self.run.triggered_by == "conflict_resolution":
            kind = ChangeKind.CONFLICT_RESOLVED  # the supplier's choice, carried to the other side by this run
        if event is not None:
            event_id = event_id or str(event.pk)
            title = title or event.title
        self.pending.append(OutlookSyncChange(
            run_id=self.run.pk, integration_id=self.run.integration_id, event_id=getattr(event, "pk", None),
            wedsync_event_id=str(event_id or ""), event_title=(title or "")[:255], side=side, kind=kind,
            fields=dict(fields or {}), created_at=timezone.now(),
        ))

    def wedsync(self, kind: str, event, fields=None) -> None:
        self.record(side=ChangeSide.WEDSYNC, kind=kind, event=event, fields=fields)

    def outlook(self, kind: str, event=None, fields=None, *, event_id: str = "", title: str = "") -> None:
        self.record(side=ChangeSide.OUTLOOK, kind=kind, event=event, fields=fields, event_id=event_id, title=title)

    def flush(self) -> None:
        if self.pending:
            OutlookSyncChange.objects.bulk_create(self.pending)
            self.pending = []


def record_settings(run: OutlookSyncHistory, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    """A settings change (``PUT /settings``) on the run that applies it: what it replaced (undo puts it back).

    ``old`` and ``new`` may hold ``syncPreferences`` (the preferences), ``calendar`` (the synced calendar's
    name, as the supplier sees it: never its Outlook id) and ``syncDirection``; only what differs is recorded:
    the changed preference keys under ``syncPreferences``, and ``calendar`` / ``syncDirection`` as ``{"old", "new"}``.
    """
    fields = settings_fields(old, new)
    if fields:
        OutlookSyncChange.objects.create(run=run, integration_id=run.integration_id, side=ChangeSide.WEDSYNC, kind=ChangeKind.UPDATED, fields=fields)


def settings_fields(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict:
    """The journal fields of a settings change (see :func:`record_settings`)."""
    fields: dict = {}
    old_prefs, new_prefs = old.get("syncPreferences") or {}, new.get("syncPreferences") or {}
    keys = [k for k in {**old_prefs, **new_prefs} if old_prefs.get(k) != new_prefs.get(k)]
    if keys:
        fields["syncPreferences"] = {"old": {k: old_prefs.get(k) for k in keys}, "new": {k: new_prefs.get(k) for k in keys}}
    for name in ("calendar", "syncDirection"):
        if name in old and name in new and old[name] != new[name]:
            fields[name] = {"old": old[name], "new": new[name]}
    return fields


def retention() -> dt.timedelta:
    return dt.timedelta(days=settings.OUTLOOK_SYNC_JOURNAL_RETENTION_DAYS)


def prune(now=None) -> int:
    """Delete journal entries older than the retention period; returns how many."""
    cutoff = (now or timezone.now()) - retention()
    deleted, _ = OutlookSyncChange.objects.filter(created_at__lt=cutoff).delete()
    return deleted
