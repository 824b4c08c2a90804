"""Undo journaled changes (issue 18): one change, one event, or a whole run, on both sides.

Requesting an undo (:func:`request_undo`) claims the changes for a new run
whose mode is ``undo`` (``undone_by``; a claimed change answers 409
``already_undone``), queued like any run: it waits behind a run in progress.
A failed or cancelled undo run releases its claim.

Executing it (:func:`execute`, called by the engine for undo runs) goes through
the normal engine path, so the undo is pushed to Outlook, journaled in its own
run, and can itself be undone:

- **updated fields** (and a resolved conflict carried to the other side): the WedSync event takes the old values back, then the
  mapping is settled by the planner with Outlook read now (Outlook gets the
  same values with ``If-Match``). A field edited since on either side (WedSync
  no longer holds the change's new value, or Outlook doesn't) is **refused**
  with a reason, and nothing is overwritten;
- **a settings change** (a run started by ``PUT /settings``): the preferences
  it replaced come back (a preference changed again since is refused), and the
  undo run then does what that settings change made a run do, under the
  restored preferences: a full sync (every copy rewritten with the restored
  prefix and reminder, copies of types switched off again leave Outlook, those
  switched on again come back). Copies that settings change added are not
  "first copies" to refuse: they leave with their type. A change of the synced
  calendar or of the sync direction is put back too (unless changed again
  since); the copies a calendar switch made in the new calendar leave it (read
  first, so an Outlook edit made there is kept) and are made again in the
  restored calendar by that full sync, not one by one;
- **deleted** (on either side): the WedSync event is revived if it was
  soft-deleted, and the Outlook copy recreated from its values and relinked
  (one copy: a new ``transactionId`` per undo run, our tag looked up first);
- **created**: an event a run brought back (an undone delete) is deleted on both
  sides; a first copy of a WedSync event is refused (delete it in WedSync).
"""
from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Iterable

from django.db import transaction
from django.db.models import Q

from wedsync.events import actions as event_actions
from wedsync.events.models import CalendarEvent

from ..graph import calendar_api
from ..models import (
    ChangeKind,
    ChangeSide,
    MappingState,
    OutlookCalendarIntegration,
    OutlookEventMapping,
    OutlookSyncChange,
    OutlookSyncHistory,
    RunMode,
    SyncStatus,
    SyncType,
)
from ..sources import SYNC_SOURCE
from . import journal, mapping, plan, runs

#: Reasons a field is not taken back (shown to the supplier as is).
EDITED_IN_WEDSYNC = "It was changed again in WedSync after this sync, so undo leaves the newer edit alone."
EDITED_IN_OUTLOOK = "It was changed again in Outlook after this sync, so undo leaves the newer edit alone."
EVENT_GONE = "The event no longer exists in WedSync."
OUTLOOK_GONE = "The event was deleted in Outlook after this sync; undo its removal instead."
FIRST_COPY = "This sync added your WedSync event to Outlook. To remove it from Outlook, delete it in WedSync."
SETTING_CHANGED = "This setting was changed again after this sync, so undo leaves it alone."
CALENDAR_GONE = "That calendar is no longer in your Outlook account (or WedSync can't add events to it), so WedSync stays with the one synced now."

FIELD_LABELS = {
    "title": "title", "subject": "title in Outlook", "when": "time", "location": "location", "description": "description",
    "attendees": "attendees", "reminder": "reminder", "syncPreferences": "sync settings", "calendar": "synced calendar",
    "syncDirection": "sync direction",
}


def _claimed() -> Q:
    """Changes an undo run has taken (a failed or cancelled undo run gives them back)."""
    return Q(undone_by__isnull=False) & ~Q(undone_by__sync_status__in=[SyncStatus.FAILED, SyncStatus.CANCELLED])


class AlreadyUndone(Exception):
    def __init__(self, ids: list[str]):
        super().__init__("already undone")
        self.ids = ids


def changes_of_run(integration: OutlookCalendarIntegration, run: OutlookSyncHistory):
    return OutlookSyncChange.objects.filter(integration=integration, run=run)


def with_partners(integration: OutlookCalendarIntegration, change: OutlookSyncChange) -> list[OutlookSyncChange]:
    """A change plus the same run's other side of a removal or a revival (a delete is undone on both sides at once)."""
    if change.kind not in (ChangeKind.CREATED, ChangeKind.DELETED) or not change.wedsync_event_id:
        return [change]
    partners = OutlookSyncChange.objects.filter(integration=integration, run_id=change.run_id, wedsync_event_id=change.wedsync_event_id,
                                                kind=change.kind).exclude(pk=change.pk).exclude(_claimed())
    return [change, *partners]


def is_undone(change: OutlookSyncChange) -> bool:
    return OutlookSyncChange.objects.filter(pk=change.pk).filter(_claimed()).exists()


def request_undo(integration: OutlookCalendarIntegration, change_ids: Iterable) -> tuple[OutlookSyncHistory, bool, list[OutlookSyncChange]]:
    """Claim these changes for an undo run (queued behind any run in progress). Raises :class:`AlreadyUndone`."""
    ids = list(change_ids)
    with transaction.atomic():
        changes = list(OutlookSyncChange.objects.select_for_update(of=("self",)).filter(integration=integration, pk__in=ids).order_by("created_at"))
        taken = [str(c.pk) for c in OutlookSyncChange.objects.filter(pk__in=[c.pk for c in changes]).filter(_claimed())]
        if taken:
            raise AlreadyUndone(taken)
        event_ids = list(dict.fromkeys(c.wedsync_event_id for c in changes if c.wedsync_event_id))
        run, created = runs.open_run(integration, sync_type=SyncType.SINGLE_EVENT, triggered_by="undo", specific_event_ids=event_ids, mode=RunMode.UNDO)
        OutlookSyncChange.objects.filter(pk__in=[c.pk for c in changes]).update(undone_by=run)
    return run, created, changes


def open_changes(changes: Iterable[OutlookSyncChange]) -> list[OutlookSyncChange]:
    """Those not undone yet (one query)."""
    changes = list(changes)
    taken = set(OutlookSyncChange.objects.filter(pk__in=[c.pk for c in changes]).filter(_claimed()).values_list("pk", flat=True))
    return [c for c in changes if c.pk not in taken]


# --------------------------------------------------------------------------- what will be restored


def value_text(field: str, value) -> str:
    """A snapshot value as the supplier reads it (a time in words, attendees by address, text in quotes)."""
    if field == "when" and isinstance(value, dict) and value.get("recurring"):
        return "a recurring series"
    if value is None:
        return "none" if field != "reminder" else "off"
    if field == "when" and isinstance(value, dict):
        return _when_text(value)
    if field == "attendees" and isinstance(value, list):
        return ", ".join(value) or "nobody"
    if field == "reminder":
        return f"{value} minutes before"
    if field == "syncPreferences" and isinstance(value, dict):
        return ", ".join(f"{k} = {v!r}" for k, v in value.items())
    text = str(value)
    return f"“{text if len(text) <= 80 else text[:79] + '…'}”"


def _when_text(when: dict) -> str:
    """``{"start", "end", "allDay"}`` as "Sun 6 Dec 2026, 15:00–16:00 UTC" (or the all-day dates)."""
    import datetime as dt

    try:
        if when.get("allDay"):
            start, end = dt.date.fromisoformat(str(when["start"])[:10]), dt.date.fromisoformat(str(when["end"])[:10])
            last = end - dt.timedelta(days=1)
            return f"all day {start:%a %-d %b %Y}" + (f" to {last:%a %-d %b %Y}" if last > start else "")
        start = dt.datetime.fromisoformat(str(when["start"]).replace("Z", "+00:00")).astimezone(dt.timezone.utc)
        end = dt.datetime.fromisoformat(str(when["end"]).replace("Z", "+00:00")).astimezone(dt.timezone.utc)
    except (KeyError, ValueError):
        return str(when)
    until = f"{end:%H:%M}" if end.date() == start.date() else f"{end:%a %-d %b %Y, %H:%M}"
    return f"{start:%a %-d %b %Y, %H:%M}–{until} UTC"


def _restorable(preferences: dict, change: OutlookSyncChange) -> tuple[dict, list[str]]:
    """What undoing this settings change puts back (key -> the value it replaced), and the keys changed again since (kept)."""
    values = change.fields.get("syncPreferences") or {}
    old, new = values.get("old") or {}, values.get("new") or {}
    restored = {key: value for key, value in old.items() if preferences.get(key) == new.get(key)}
    return restored, [key for key in old if key not in restored]


def _restorable_scope(integration: OutlookCalendarIntegration, change: OutlookSyncChange) -> tuple[dict, list[str]]:
    """The synced calendar (its name) and sync direction this settings change replaced, where the integration
    still holds what it set; and those changed again since (kept)."""
    now = {"calendar": integration.calendar_name, "syncDirection": integration.sync_direction}
    restored, kept = {}, []
    for name in ("calendar", "syncDirection"):
        values = change.fields.get(name)
        if not values:
            continue
        if now[name] == values.get("new"):
            restored[name] = values.get("old")
        else:
            kept.append(name)
    return restored, kept


def _moved_by_calendar_switch(change: OutlookSyncChange, switch_runs: set) -> bool:
    """An Outlook copy a calendar switch removed from the old calendar or made in the new one: undoing the switch
    moves it back with the full sync of the restored calendar, not as a change of its own."""
    return change.side == ChangeSide.OUTLOOK and change.kind in (ChangeKind.CREATED, ChangeKind.DELETED) and change.run_id in switch_runs


def _calendar_switches(integration: OutlookCalendarIntegration, changes: Iterable[OutlookSyncChange]) -> set:
    """Runs whose calendar switch, among ``changes``, will be undone."""
    return {c.run_id for c in changes if not c.wedsync_event_id and "calendar" in _restorable_scope(integration, c)[0]}


def restored_preferences(preferences: dict, changes: Iterable[OutlookSyncChange]) -> dict:
    """The preferences once the settings changes among ``changes`` are undone (newest first, as the undo run does)."""
    prefs = dict(preferences)
    for change in sorted((c for c in changes if not c.wedsync_event_id), key=lambda c: c.created_at, reverse=True):
        prefs.update(_restorable(prefs, change)[0])
    return prefs


def _current_wedsync(change: OutlookSyncChange, integration) -> dict | None:
    event = change.event
    if event is None or event.is_deleted:
        return None
    prefs = mapping.SyncPreferences.from_json(integration.sync_preferences or {})
    return mapping.snapshot_from_wedsync(event_values(event), prefs)


def describe(integration: OutlookCalendarIntegration, changes: Iterable[OutlookSyncChange]) -> list[dict]:
    """For each change: what the undo will do on each side, and the fields it will refuse (edited since in WedSync).

    Outlook is read when the undo runs: a field edited there since is refused then.
    """
    changes = list(changes)
    after = mapping.SyncPreferences.from_json(restored_preferences(integration.sync_preferences or {}, changes))
    switch_runs = _calendar_switches(integration, changes)
    out = []
    for change in changes:
        wedsync_lines: list[str] = []
        outlook_lines: list[str] = []
        refused: list[dict] = []
        current = _current_wedsync(change, integration) if change.wedsync_event_id else None
        title = change.event_title or "this event"
        if not change.wedsync_event_id:  # a settings change
            restored, kept = _restorable(integration.sync_preferences or {}, change)
            new = (change.fields.get("syncPreferences") or {}).get("new") or {}
            for key in kept:
                refused.append({"field": key, "reason": SETTING_CHANGED})
            for key, value in restored.items():
                wedsync_lines.append(f"Setting {key} goes back from {new.get(key)!r} to {value!r}.")
            scope, scope_kept = _restorable_scope(integration, change)
            for key in scope_kept:
                refused.append({"field": key, "reason": SETTING_CHANGED})
            if "calendar" in scope:
                moved_from = change.fields["calendar"].get("new") or "the calendar synced now"
                moved_to = scope["calendar"] or "the calendar synced before"
                wedsync_lines.append(f"The synced calendar goes back from “{moved_from}” to “{moved_to}”.")
                outlook_lines.append(f"WedSync's events leave “{moved_from}” and are added to “{moved_to}” again.")
            if "syncDirection" in scope:
                wedsync_lines.append(f"The sync direction goes back from {change.fields['syncDirection'].get('new')} to {scope['syncDirection']}.")
            if restored or scope:
                outlook_lines.append("Every event in Outlook is synced again with those settings.")
        elif change.kind in (ChangeKind.UPDATED, ChangeKind.CONFLICT_RESOLVED):
            for field, values in change.fields.items():
                label = FIELD_LABELS.get(field, field)
                if field in ("subject", "reminder"):
                    outlook_lines.append(f"“{title}”: the {label} goes back to {value_text(field, values.get('old'))} "
                                         f"(now {value_text(field, values.get('new'))}) under the settings in force.")
                    continue
                if current is None:
                    refused.append({"field": field, "reason": EVENT_GONE})
                    continue
                if current.get(field) != values.get("new"):
                    refused.append({"field": field, "reason": EDITED_IN_WEDSYNC})
                    continue
                line = f"“{title}”: {label} goes back to {value_text(field, values.get('old'))} (now {value_text(field, values.get('new'))})."
                wedsync_lines.append(line)
                outlook_lines.append(line)
        elif _moved_by_calendar_switch(change, switch_runs):
            if change.kind == ChangeKind.CREATED:
                outlook_lines.append(f"“{title}” goes back to the calendar synced before.")
        elif change.kind == ChangeKind.DELETED:
            if change.event is None:
                refused.append({"field": "event", "reason": EVENT_GONE})
            else:
                if change.event.is_deleted:
                    wedsync_lines.append(f"“{title}” is brought back.")
                outlook_lines.append(f"“{title}” is added to Outlook again, with its WedSync details.")
        elif change.kind == ChangeKind.CREATED:
            if change.side == ChangeSide.OUTLOOK and change.event is not None and not mapping.is_type_synced(change.event.event_type, after):
                outlook_lines.append(f"“{title}” is removed from Outlook: its type is no longer synced with those settings.")
            elif change.side == ChangeSide.OUTLOOK and not _has_partner(change):
                refused.append({"field": "event", "reason": FIRST_COPY})
            else:
                wedsync_lines.append(f"“{title}” is deleted again.")
                outlook_lines.append(f"“{title}” is removed from Outlook again.")
        out.append({
            "changeId": str(change.pk), "eventId": change.wedsync_event_id or None, "eventTitle": change.event_title,
            "side": change.side, "kind": change.kind,
            "willChange": {"wedsync": wedsync_lines, "outlook": outlook_lines}, "refused": refused,
        })
    return out


def event_values(event: CalendarEvent) -> dict:
    """The event as :mod:`.mapping` reads it (as ``engine.event_values``; not imported: the engine imports this module)."""
    return {**{name: getattr(event, name) for name in event_actions.EDITABLE_FIELDS}, "id": str(event.id)}


def as_uuid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None


def _has_partner(change: OutlookSyncChange) -> bool:
    return OutlookSyncChange.objects.filter(run_id=change.run_id, wedsync_event_id=change.wedsync_event_id, kind=ChangeKind.CREATED,
                                            side=ChangeSide.WEDSYNC).exists()


# --------------------------------------------------------------------------- the undo run


def execute(engine) -> None:
    """Carry out an undo run (the engine's run for mode ``undo``): settings first (newest first), then each event,
    then, when restored settings change what Outlook holds, the full sync they ask for."""
    run = engine.run_row
    changes = list(OutlookSyncChange.objects.filter(undone_by=run).select_related("event").order_by("created_at"))
    resync = False
    switch_runs: set = set()
    for change in sorted((c for c in changes if not c.wedsync_event_id), key=lambda c: c.created_at, reverse=True):  # newest first
        restored, moved = _restore_settings(engine, change)
        resync |= restored
        if moved:
            switch_runs.add(change.run_id)
    by_event: OrderedDict[str, list[OutlookSyncChange]] = OrderedDict()
    for change in changes:
        if change.wedsync_event_id:
            by_event.setdefault(change.wedsync_event_id, []).append(change)
    engine.expect(len(by_event) - run.total_events)
    for event_id, group in by_event.items():
        group = [c for c in group if not _moved_by_calendar_switch(c, switch_runs)]  # moved back by the resync below
        if not group:
            engine.progress(processed=1)
            continue
        with engine.guard(None, event_id=event_id):
            _undo_event(engine, event_id, group)
    if resync:
        engine.resync()  # what the settings change made a run do, now under the restored preferences


def _refuse(engine, change: OutlookSyncChange, field: str, reason: str) -> None:
    engine.errors.append({
        "eventId": change.wedsync_event_id, "eventType": getattr(change.event, "event_type", "") or "", "errorCode": "undo_refused",
        "errorMessage": f"{FIELD_LABELS.get(field, field).capitalize()} of “{change.event_title or 'the event'}”: {reason}", "retryable": False,
        "field": field, "changeId": str(change.pk),
    })


def _restore_settings(engine, change: OutlookSyncChange) -> tuple[bool, bool]:
    """Put back the preferences, synced calendar and sync direction this settings change replaced (not those
    changed again since). Returns (a full sync is needed, as ``PUT /settings`` would have asked for; the
    synced calendar was put back)."""
    calendar = None
    if "calendar" in _restorable_scope(engine.integration, change)[0]:
        # The journal names the calendar (no Outlook ids in it): find it in the account now, before any lock is taken.
        name = change.fields["calendar"].get("old")
        calendar = next((c for c in calendar_api.list_calendars(engine.client) if c.name == name and c.can_edit), None)
    with transaction.atomic():  # against a PUT /settings at the same moment
        integration = OutlookCalendarIntegration.objects.select_for_update().get(pk=engine.integration.pk)
        prefs = dict(integration.sync_preferences or {})
        restored, kept = _restorable(prefs, change)
        scope, scope_kept = _restorable_scope(integration, change)
        if "calendar" in scope and calendar is None:
            del scope["calendar"]
            _refuse(engine, change, "calendar", CALENDAR_GONE)
        for key in [*kept, *scope_kept]:
            _refuse(engine, change, key, SETTING_CHANGED)
        if not restored and not scope:
            return False, False
        old = {"syncPreferences": {k: prefs.get(k) for k in restored}, "calendar": integration.calendar_name, "syncDirection": integration.sync_direction}
        old_prefs = mapping.SyncPreferences.from_json(prefs)
        prefs.update(restored)
        updates: dict = {"sync_preferences": prefs}
        if "calendar" in scope:
            # As PUT /settings switching calendars: a new delta read of that calendar, the old copies leave the other.
            updates.update(calendar_id=calendar.id, calendar_name=calendar.name, delta_link=None)
        if "syncDirection" in scope:
            updates["sync_direction"] = scope["syncDirection"]
        OutlookCalendarIntegration.objects.filter(pk=integration.pk).update(**updates)
    for name, value in updates.items():
        setattr(engine.integration, name, value)
    engine.use_preferences(prefs)
    if "syncDirection" in scope:
        engine.direction = scope["syncDirection"]
    new = {"syncPreferences": restored, "calendar": engine.integration.calendar_name, "syncDirection": engine.direction}
    engine.journal.record(side=ChangeSide.WEDSYNC, kind=ChangeKind.UPDATED, fields=journal.settings_fields(old, new))
    return bool(scope) or mapping.changed_preferences_need_full_resync(old_prefs, engine.prefs), "calendar" in scope


def _mapping_of(engine, event_id: str) -> OutlookEventMapping | None:
    return OutlookEventMapping.objects.filter(integration=engine.integration, wedsync_event_id=event_id, kind="event").select_related("event").first()


def _undo_event(engine, event_id: str, group: list[OutlookSyncChange]) -> None:
    event = CalendarEvent.objects.filter(pk=as_uuid(event_id), supplier_id=engine.integration.user_id).first()
    if event is None:
        for change in group:
            _refuse(engine, change, "event", EVENT_GONE)
        engine.progress(processed=1)
        return
    created = [c for c in group if c.kind == ChangeKind.CREATED]
    deleted = [c for c in group if c.kind == ChangeKind.DELETED]
    updated = [c for c in group if c.kind in (ChangeKind.UPDATED, ChangeKind.CONFLICT_RESOLVED)]
    row = _mapping_of(engine, event_id)
    if created:
        if not any(c.side == ChangeSide.WEDSYNC for c in created) and not mapping.is_type_synced(event.event_type, engine.prefs):
            pass  # its type is not synced (any more): the copy leaves Outlook with the full sync of those settings (below, or already)
        elif not any(c.side == ChangeSide.WEDSYNC for c in created) and not any(_has_partner(c) for c in created):
            for change in created:
                _refuse(engine, change, "event", FIRST_COPY)
        else:
            _delete_both(engine, event, row)
            return
    if deleted:
        _bring_back(engine, event, row)
        return
    if not updated:
        engine.progress(processed=1)
        return
    if row is None or event.is_deleted:
        for change in updated:
            _refuse(engine, change, "event", EVENT_GONE if event.is_deleted else OUTLOOK_GONE)
        engine.progress(processed=1)
        return
    outlook = engine.read_copy(row)
    if outlook.seen is not plan.Seen.PRESENT:
        for change in updated:
            _refuse(engine, change, "event", OUTLOOK_GONE)
        engine.settle(row, outlook)
        return
    ours = mapping.snapshot_from_wedsync(event_values(event), engine.prefs)
    theirs = plan.outlook_view(outlook, plan.State(prefix_applied=row.prefix_applied))
    targets: dict = {}
    expected: dict = {}
    owner: dict = {}
    for change in updated:  # oldest first: the oldest change's old value is the target, the newest's new value is expected now
        for field, values in change.fields.items():
            if field not in plan.FIELDS:
                continue  # subject / reminder: rewritten by the settle below under the settings in force
            targets.setdefault(field, values.get("old"))
            expected[field] = values.get("new")
            owner[field] = change
    to_write = {}
    for field, old in targets.items():
        if field == "attendees" and (old is None or expected[field] is None):
            continue
        if ours.get(field) != expected[field]:
            _refuse(engine, owner[field], field, EDITED_IN_WEDSYNC)
        elif theirs.get(field) != expected[field]:
            _refuse(engine, owner[field], field, EDITED_IN_OUTLOOK)
        elif old != ours.get(field):
            to_write[field] = old
    if to_write:
        changes = mapping.wedsync_changes(to_write, current_values=event_values(event))
        event = event_actions.update_event(event, source=SYNC_SOURCE, expected_version=event.version, **changes)
        engine.journal.wedsync(ChangeKind.UPDATED, event, journal.diff(ours, to_write, to_write.keys()))
        row.event = event
    engine.settle(row, outlook)


def _bring_back(engine, event: CalendarEvent, row: OutlookEventMapping | None) -> None:
    """Revive a soft-deleted WedSync event and recreate its Outlook copy (relinked: a new mapping)."""
    if event.is_deleted:
        event = event_actions.restore_event(event, source=SYNC_SOURCE)
        engine.journal.wedsync(ChangeKind.CREATED, event, journal.diff(None, mapping.snapshot_from_wedsync(event_values(event), engine.prefs)))
    if row is not None:
        engine.settle(row, engine.read_copy(row))
        return
    row = OutlookEventMapping.objects.create(
        integration=engine.integration, event=event, kind="event", wedsync_event_type=event.event_type, wedsync_event_id=str(event.pk),
        # A placeholder id unique to this undo run: the recreate's transactionId derives from it (never the old copy's).
        outlook_event_id=f"undo:{engine.run_row.pk}:{event.pk}", outlook_calendar_id=engine.integration.calendar_id,
        base_snapshot={}, needs_recreate=True, sync_state=MappingState.PENDING, prefix_applied=engine.prefs.event_prefix,
        synced_wedsync_version=event.version,
    )
    row.event = event
    engine.settle(row, plan.Outlook(plan.Seen.DELETED))


def _delete_both(engine, event: CalendarEvent, row: OutlookEventMapping | None) -> None:
    """Take back a revival: soft-delete the WedSync event, then the planner deletes the Outlook copy (If-Match)."""
    if not event.is_deleted:
        before = mapping.snapshot_from_wedsync(event_values(event), engine.prefs)
        event = event_actions.delete_event(event, source=SYNC_SOURCE, expected_version=event.version)
        engine.journal.wedsync(ChangeKind.DELETED, event, journal.diff(before, None))
    if row is not None:
        row.event = event
        engine.settle(row, engine.read_copy(row))
    else:
        engine.progress(processed=1)
