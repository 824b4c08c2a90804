"""Every per-event sync decision, as data (pure: no Django, no I/O).

:func:`plan` takes what we know about one mapped event and returns the list of
:class:`Action` the engine must execute, in order. The engine reads both sides,
calls :func:`plan`, executes the actions through typed functions, and when an
action cannot be carried out as planned (Outlook answered 412, WedSync's version
moved, Outlook said 404) it re-reads that side and plans again. No ``if`` in the
engine decides what happens to an event's data; they are all here, in the
table below, and each row has its own test (``tests/unit/test_plan.py``).

Inputs
------
``state`` (:class:`State`): the mapping's stored facts: the base snapshot both
sides agreed on, the WedSync version last synced, the Outlook ``changeKey``
after our last read or write (None = unknown), the prefix and reminder applied
to the Outlook copy, the open conflicts, and explicit flags (``needs_recreate``,
``pending``).

``wedsync`` (:class:`WedSync`): the event as WedSync holds it now
(``deleted=True`` when it is soft-deleted or gone).

``outlook`` (:class:`Outlook`): what this run knows of the Outlook copy. Its
``seen`` is one of:

=================  ==============================================================
``PRESENT``        read now (delta page, GET): ``snapshot`` (title = the raw
                   subject, prefix included) and ``change_key`` are current
``DELETED``        confirmed gone: a GET answered 404
``REMOVED``        delta said ``@removed``: deleted **or** moved out of the
                   synced window (Graph says the same for both) — not a delete
``NOT_SEEN``       a full read of the window did not list it: deleted, or out of
                   the window — not a delete either
``UNREAD``         not read in this run (a push): assume it still holds what we
                   last wrote (``state.change_key``), guarded by ``If-Match``
=================  ==============================================================

``settings`` (:class:`Settings`): direction, run mode (normal / force), the
prefix and reminder in force, whether the type is synced, stored default rules.

The table (first matching row wins; "edited" = some field differs from base)
--------------------------------------------------------------------------

====  ===============================  ===============================  =============================================
row   WedSync                          Outlook                          actions
====  ===============================  ===============================  =============================================
R0    live                             PRESENT, became a series         RecordConflict(when: recurring) (never
                                                                        flattened, never duplicated; normal mode)
R1    any                              REMOVED / NOT_SEEN               ReadOutlookAgain  (never a delete by itself)
R2    deleted                          DELETED                          Forget
R3    deleted, delete conflict open    PRESENT / UNREAD                 RecordConflict (kept until the supplier decides);
      (deleted on wedsync)
R3b   deleted, delete conflict open    PRESENT / UNREAD                 Forget (deleted on both sides now)
      (deleted on outlook)
R4    live, delete conflict open       DELETED / UNREAD                 RecordConflict (kept; survivor refreshed)
R5    live, delete conflict open       PRESENT (it came back)           RecordConflict (kept; the supplier decides)
R6    live, needs_recreate             any                              CreateInOutlook, Remember
R7    deleted                          UNREAD, change_key unknown       ReadOutlookAgain
R8    deleted, from_outlook            PRESENT / UNREAD                 Forget (WedSync deletes are not sent)
R9    deleted, bidirectional normal    PRESENT, edited in Outlook       RecordConflict(deleted on wedsync)
R10   deleted, otherwise               PRESENT / UNREAD                 DeleteInOutlook(if_match), Forget
R11   live, to_outlook (or force to)   DELETED                          CreateInOutlook, Remember (recreate)
R12   live, edited since base, bidir.  DELETED                          RecordConflict(deleted on outlook)
R13   live, otherwise                  DELETED                          SoftDeleteInWedSync(expected_version), Forget
      (from_outlook, or unedited)
R14   live, change_key unknown         UNREAD                           ReadOutlookAgain
R15   live                             PRESENT / UNREAD                 merge (below): ApplyToWedSync(fields,
                                                                        expected_version), UpdateOutlook(fields,
                                                                        if_match), Remember
====  ===============================  ===============================  =============================================

Merging (R15), per field:

- **open conflict on the field** (normal mode): frozen. Nothing is written on
  either side; the conflict is kept with both sides' current values (for an
  UNREAD Outlook, the value the conflict last saw there). It goes away only
  when the supplier resolves it, a stored rule picks a side, or both sides come
  to hold the same value (then nothing is left to decide).
- otherwise the three-way merge of :mod:`.merge` (bidirectional), or the
  source side wins every difference (one direction, and force mode: the run's
  direction wins, open conflicts included).
- **the subject**: the Outlook subject is always ``settings.prefix + title``.
  The Outlook title is read by stripping the prefix *applied* to that copy
  (``state.prefix_applied``), exactly; when the subject no longer carries it
  (retyped in Outlook) the whole subject is the title, and the subject is
  written back as prefix + title. A prefix change rewrites the subject.
- **the reminder**: a change of the reminder setting since it was applied
  rewrites it (``reminder`` in ``UpdateOutlook.fields``).
- an Outlook ``changeKey`` that moved with no field change (Outlook's own
  changes: HTML body conversion, attendee responses) writes nothing: only the
  new key is remembered.

``Remember`` carries the new base (agreed values; a conflicted field keeps its
base), the conflicts, and the prefix/reminder in force; the engine adds the
``changeKey`` and version its writes returned.

Removing copies that left the scope (type switched off, calendar switched,
travel time switched off): :func:`plan_leaving_scope`, first matching row wins:

====  =========================  ===============  ===============================================
row   mapping, direction         Outlook          actions
====  =========================  ===============  ===============================================
L1    any                        DELETED          Forget
L2    any, from_outlook          any              Forget (this direction never writes Outlook:
                                                  the copy stays there, unsynced; nothing lost)
L3    travel block, pushes       any              DeleteInOutlook(None), Forget (see below)
L4    event, pushes              any              :func:`plan_removal`: reads first (an unread
                                                  copy gets ReadOutlookAgain), takes Outlook's
                                                  unsynced edits into WedSync, then deletes with
                                                  ``If-Match``; the mapping is forgotten only
                                                  once Outlook confirmed the removal
====  =========================  ===============  ===============================================

L3 is the one delete in Outlook without ``If-Match``: a travel block is
WedSync's alone (written one-way from its event, never read back into WedSync;
an edit of it in Outlook is put back by the engine), so whatever its changeKey
it holds nothing of the supplier's to keep, and a condition could only cost a
412 and a re-read.
"""
from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import merge

#: Snapshot field names (see :mod:`.mapping`).
FIELDS = merge.SYNC_FIELDS
#: The pseudo-field "reminder" in :class:`UpdateOutlook` (written on a settings change only).
REMINDER = "reminder"


class Seen(enum.Enum):
    PRESENT = "present"
    DELETED = "deleted"
    REMOVED = "removed"
    NOT_SEEN = "not_seen"
    UNREAD = "unread"


class Direction(str, enum.Enum):
    BIDIRECTIONAL = "bidirectional"
    TO_OUTLOOK = "to_outlook"
    FROM_OUTLOOK = "from_outlook"


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class State:
    """The mapping's stored facts."""

    base: Mapping[str, Any] | None = None
    synced_version: int = 0
    change_key: str | None = None
    prefix_applied: str | None = None
    #: Reminder minutes applied to the copy (None: off); ``reminder_known`` False = not recorded.
    reminder_applied: int | None = None
    reminder_known: bool = False
    conflicts: tuple[merge.SyncConflict, ...] = ()
    needs_recreate: bool = False
    #: Waiting to sync even if WedSync's version did not move (after a resolution or "clear conflicts").
    pending: bool = False
    #: A travel block: WedSync's alone (written one-way from its event, never read back).
    travel: bool = False

    @property
    def delete_conflict(self) -> merge.SyncConflict | None:
        return next((c for c in self.conflicts if c.field == merge.DELETED), None)


@dataclass(frozen=True)
class WedSync:
    snapshot: Mapping[str, Any] | None
    version: int = 0
    deleted: bool = False


@dataclass(frozen=True)
class Outlook:
    seen: Seen
    #: As Outlook holds it: ``title`` is the raw subject (prefix included).
    snapshot: Mapping[str, Any] | None = None
    change_key: str | None = None
    reminder: int | None = None
    #: True when the copy became a recurring series in Outlook.
    is_series: bool = False


@dataclass(frozen=True)
class Settings:
    direction: Direction = Direction.BIDIRECTIONAL
    prefix: str = "WedSync: "
    reminder: int | None = 60
    event_type: str = "client_meeting"
    rules: Mapping[str, str] = field(default_factory=dict)
    force: bool = False


# --------------------------------------------------------------------------- actions


@dataclass(frozen=True)
class Action:
    """One step for the engine."""


@dataclass(frozen=True)
class Nothing(Action):
    pass


@dataclass(frozen=True)
class ReadOutlookAgain(Action):
    """GET the Outlook copy (404 -> DELETED) and plan again."""


@dataclass(frozen=True)
class CreateInOutlook(Action):
    """Create the copy from WedSync's current values (looking our own tagged copy up first)."""

    recreate: bool = False


@dataclass(frozen=True)
class UpdateOutlook(Action):
    """PATCH these fields with WedSync's (merged) values; ``if_match`` None only when Outlook was just read."""

    fields: frozenset[str]
    if_match: str | None


@dataclass(frozen=True)
class DeleteInOutlook(Action):
    if_match: str | None


@dataclass(frozen=True)
class ApplyToWedSync(Action):
    """Write these snapshot values into the WedSync event, only if it is still at ``expected_version``."""

    fields: Mapping[str, Any]
    expected_version: int


@dataclass(frozen=True)
class SoftDeleteInWedSync(Action):
    expected_version: int


@dataclass(frozen=True)
class RecordConflict(Action):
    """Store these open conflicts (the mapping shows "needs your decision")."""

    conflicts: tuple[merge.SyncConflict, ...]
    #: The Outlook change key the conflict saw (None: keep the stored one).
    change_key: str | None = None


@dataclass(frozen=True)
class Remember(Action):
    """Store the new base and state; the engine adds the changeKey and version its writes returned."""

    base: Mapping[str, Any]
    conflicts: tuple[merge.SyncConflict, ...] = ()
    prefix: str | None = None
    reminder: int | None = None
    #: Outlook's current change key when Outlook was read (a later write replaces it).
    change_key: str | None = None


@dataclass(frozen=True)
class NoteOutlookVersion(Action):
    """Disconnect: add to the WedSync event's description what Outlook's copy held in these conflicts (WedSync keeps its own values)."""

    conflicts: tuple[merge.SyncConflict, ...]


@dataclass(frozen=True)
class Forget(Action):
    """Drop the mapping (only after both sides are settled: Outlook's removal confirmed)."""


# --------------------------------------------------------------------------- the planner


def plan(state: State, wedsync: WedSync, outlook: Outlook, settings: Settings) -> list[Action]:
    """The actions for one mapped event (see the module docstring's table)."""
    seen = outlook.seen
    # R1: @removed / not listed is "deleted or out of the window": find out which.
    if seen in (Seen.REMOVED, Seen.NOT_SEEN):
        return [ReadOutlookAgain()]
    open_delete = state.delete_conflict if not settings.force else None
    if seen is Seen.PRESENT and outlook.is_series and not wedsync.deleted and not settings.force:
        # R0: the supplier turned our event into a recurring series in Outlook: ask, keep both as they are.
        kept = tuple(c for c in state.conflicts if c.field != "when")
        ours = dict(wedsync.snapshot or {})
        series = merge.SyncConflict("when", ours.get("when"), {"recurring": True}, merge.CONFLICT_TYPE["when"], merge.MANUAL_REVIEW)
        return [RecordConflict((*kept, series), outlook.change_key)]
    if wedsync.deleted:
        if seen is Seen.DELETED:
            return [Forget()]  # R2
        if open_delete is not None:
            if open_delete.outlook_value is None:
                return [Forget()]  # R3b: Outlook had deleted it, now WedSync too: nothing left to decide
            return [RecordConflict(state.conflicts)]  # R3
        if seen is Seen.UNREAD and state.change_key is None:
            return [ReadOutlookAgain()]  # R7
        if settings.direction is Direction.FROM_OUTLOOK:
            return [Forget()]  # R8
        if seen is Seen.PRESENT and settings.direction is Direction.BIDIRECTIONAL and not settings.force:
            theirs = outlook_view(outlook, state)
            if outlook.change_key != state.change_key and merge.edited_fields(state.base or None, theirs):
                return [RecordConflict((merge.deletion_conflict(state.base or None, theirs, deleted_on="wedsync"),), outlook.change_key)]  # R9
        if_match = outlook.change_key if seen is Seen.PRESENT else state.change_key
        return [DeleteInOutlook(if_match), Forget()]  # R10
    ours = dict(wedsync.snapshot or {})
    if open_delete is not None:
        if seen is Seen.PRESENT:
            return [RecordConflict(state.conflicts, outlook.change_key)]  # R5
        refreshed = merge.SyncConflict(open_delete.field, ours, None, open_delete.conflict_type, open_delete.suggested_resolution) \
            if open_delete.outlook_value is None else open_delete
        return [RecordConflict((refreshed,))]  # R4
    if state.needs_recreate:
        return [CreateInOutlook(recreate=True), _remember_created(ours, settings)]  # R6
    if seen is Seen.DELETED:
        if settings.direction is Direction.TO_OUTLOOK:
            return [CreateInOutlook(recreate=True), _remember_created(ours, settings)]  # R11
        ws_changed = wedsync.version > state.synced_version or state.pending
        if settings.direction is Direction.BIDIRECTIONAL and not settings.force and ws_changed and merge.edited_fields(state.base or None, ours):
            return [RecordConflict((merge.deletion_conflict(state.base or None, ours, deleted_on="outlook"),))]  # R12
        return [SoftDeleteInWedSync(wedsync.version), Forget()]  # R13
    if seen is Seen.UNREAD and state.change_key is None:
        return [ReadOutlookAgain()]  # R14
    return _merge(state, wedsync, ours, outlook, settings)  # R15


def outlook_view(outlook: Outlook, state: State) -> dict[str, Any]:
    """Outlook's snapshot with the title read through the prefix applied to that copy."""
    theirs = dict(outlook.snapshot or {})
    theirs["title"] = strip_applied_prefix(str(theirs.get("title") or ""), state.prefix_applied)
    return theirs


def strip_applied_prefix(subject: str, prefix: str | None) -> str:
    """The title in an Outlook subject written as ``prefix + title``.

    Exactly the applied prefix; Outlook may trim its trailing space. A subject
    that does not carry it (retyped in Outlook) is all title.
    """
    if prefix and subject.startswith(prefix):
        return subject[len(prefix):]
    bare = (prefix or "").rstrip()
    if bare and subject.startswith(bare) and len(bare) < len(prefix or ""):
        return subject[len(bare):].lstrip()
    return subject


def _remember_created(ours: Mapping[str, Any], settings: Settings) -> Remember:
    return Remember(base=dict(ours), prefix=settings.prefix, reminder=settings.reminder)


def _merge(state: State, wedsync: WedSync, ours: dict[str, Any], outlook: Outlook, settings: Settings) -> list[Action]:
    base = dict(state.base) if state.base else None
    open_fields = {c.field: c for c in state.conflicts} if not settings.force else {}
    if outlook.seen is Seen.PRESENT:
        theirs = outlook_view(outlook, state)
        subject = str((outlook.snapshot or {}).get("title") or "")
    else:  # UNREAD: Outlook holds what we last wrote, and for a conflicted field what the conflict saw there
        theirs = dict(base or ours)
        for name, conflict in open_fields.items():
            theirs[name] = conflict.outlook_value
        subject = None
    # Fields in an open conflict are frozen: out of the merge, kept as conflicts with current values.
    frozen: list[merge.SyncConflict] = []
    for name, conflict in open_fields.items():
        if ours.get(name) == theirs.get(name):
            continue  # both sides hold the same value now: nothing left to decide
        side = merge.rule_side(settings.rules, settings.event_type, conflict.conflict_type)
        if side is not None:
            continue  # a stored rule decides it: the field joins the merge below
        frozen.append(merge.SyncConflict(name, ours.get(name), theirs.get(name), conflict.conflict_type, conflict.suggested_resolution))
    frozen_names = {c.field for c in frozen}
    rule_decided = {name: c for name, c in open_fields.items() if name not in frozen_names and ours.get(name) != theirs.get(name)}
    merge_base = dict(base) if base is not None else None
    if merge_base is not None:
        for name in rule_decided:
            merge_base[name] = None  # edited on both sides since the base: only the rule can pick
    direction = settings.direction
    if direction is Direction.BIDIRECTIONAL and not settings.force:
        result = merge.merge(merge_base, ours, theirs, event_type=settings.event_type, rules=settings.rules)
    else:
        source_is_wedsync = direction is not Direction.FROM_OUTLOOK
        result = _one_way(ours, theirs, wedsync_wins=source_is_wedsync)
    merged = dict(result.merged)
    to_outlook = {k: v for k, v in result.to_outlook.items() if k not in frozen_names}
    to_wedsync = {k: v for k, v in result.to_wedsync.items() if k not in frozen_names}
    conflicts = [c for c in result.conflicts if c.field not in frozen_names] + frozen
    for conflict in frozen:
        merged[conflict.field] = (base or {}).get(conflict.field)
    conflicted = {c.field for c in conflicts}
    fields = set(to_outlook)
    writes_outlook = direction is not Direction.FROM_OUTLOOK
    # The subject is always prefix + title: rewrite a retyped subject or an old prefix.
    if "title" not in conflicted and writes_outlook:
        title = merged.get("title")
        if subject is not None and subject != f"{settings.prefix}{title}":
            fields.add("title")
        elif state.prefix_applied != settings.prefix:
            fields.add("title")
    # A reminder setting changed since this copy was written: rewrite it (the supplier's own reminder edits survive otherwise).
    if writes_outlook and state.reminder_known and state.reminder_applied != settings.reminder:
        fields.add(REMINDER)
    actions: list[Action] = []
    if_match = outlook.change_key if outlook.seen is Seen.PRESENT else state.change_key
    # WedSync first: the PATCH is built from WedSync's values after it took Outlook's (a retyped title).
    if to_wedsync:
        actions.append(ApplyToWedSync(dict(to_wedsync), wedsync.version))
    if fields:
        actions.append(UpdateOutlook(frozenset(fields), if_match))
    prefix = settings.prefix if "title" in fields or state.prefix_applied == settings.prefix else state.prefix_applied
    reminder = settings.reminder if REMINDER in fields or not state.reminder_known else state.reminder_applied
    actions.append(Remember(
        base=merged, conflicts=tuple(conflicts), prefix=prefix, reminder=reminder,
        change_key=outlook.change_key if outlook.seen is Seen.PRESENT else None,
    ))
    return actions


def _one_way(ours: Mapping[str, Any], theirs: Mapping[str, Any], *, wedsync_wins: bool) -> merge.MergeResult:
    """One direction (or force): the source side wins every field that differs."""
    source, target = (ours, theirs) if wedsync_wins else (theirs, ours)
    diff = {name: source.get(name) for name in FIELDS
            if not (name == "attendees" and (source.get(name) is None or target.get(name) is None)) and source.get(name) != target.get(name)}
    merged = {**{name: target.get(name) for name in FIELDS}, **diff}
    return merge.MergeResult(merged=merged, to_outlook=diff if wedsync_wins else {}, to_wedsync={} if wedsync_wins else diff)


# --------------------------------------------------------------------------- leaving the scope


def plan_leaving_scope(state: State, wedsync: WedSync, outlook: Outlook, settings: Settings) -> list[Action]:
    """A copy marked for removal by a full run (see the module docstring's L table)."""
    if outlook.seen is Seen.DELETED:
        return [Forget()]  # L1
    if settings.direction is Direction.FROM_OUTLOOK:
        return [Forget()]  # L2
    if state.travel:
        return [DeleteInOutlook(None), Forget()]  # L3
    return plan_removal(state, wedsync, outlook, settings)  # L4


def plan_removal(state: State, wedsync: WedSync, outlook: Outlook, settings: Settings) -> list[Action]:
    """A copy that must leave Outlook (type switched off, calendar switched): read, keep Outlook's edits, delete.

    ======================  ==================================================
    Outlook                 actions
    ======================  ==================================================
    UNREAD / REMOVED / NS   ReadOutlookAgain (an unsynced Outlook edit is read)
    DELETED                 Forget
    PRESENT                 [ApplyToWedSync(Outlook's edits) when WedSync is
                            live and the direction takes Outlook's changes],
                            DeleteInOutlook(if_match), Forget
    ======================  ==================================================
    """
    if outlook.seen is Seen.DELETED:
        return [Forget()]
    if outlook.seen is not Seen.PRESENT:
        return [ReadOutlookAgain()]
    result = _outlook_edits(state, wedsync, outlook, settings)
    actions: list[Action] = [ApplyToWedSync(dict(result.to_wedsync), wedsync.version)] if result is not None and result.to_wedsync else []
    return [*actions, DeleteInOutlook(outlook.change_key), Forget()]


def _outlook_edits(state: State, wedsync: WedSync, outlook: Outlook, settings: Settings) -> merge.MergeResult | None:
    """Outlook's edits since the base merged with WedSync's (None: nothing to take: WedSync deleted, one-way to Outlook, unchanged)."""
    if wedsync.deleted or settings.direction is Direction.TO_OUTLOOK or outlook.change_key == state.change_key or not state.base:
        return None
    return merge.merge(dict(state.base), dict(wedsync.snapshot or {}), outlook_view(outlook, state), event_type=settings.event_type, rules=settings.rules)


def plan_disconnect_removal(state: State, wedsync: WedSync, outlook: Outlook, settings: Settings) -> list[Action]:
    """Disconnect with "remove": :func:`plan_removal`, and no conflict is lost with the copy.

    Outlook's edits that do not conflict are taken into WedSync first. A field
    in conflict (open before, or met now) can no longer be decided once the copy
    is gone, so WedSync keeps its own value and :class:`NoteOutlookVersion`
    adds Outlook's value to the event's description (the supplier still has both).
    A live WedSync event only, and not one-way to Outlook (Outlook's values are
    never taken then); a delete conflict (the event deleted in WedSync) keeps the delete.
    """
    actions = plan_removal(state, wedsync, outlook, settings)
    if outlook.seen is not Seen.PRESENT or wedsync.deleted or settings.direction is Direction.TO_OUTLOOK:
        return actions
    result = _outlook_edits(state, wedsync, outlook, settings)
    ours = dict(wedsync.snapshot or {})
    conflicts = {c.field: c for c in state.conflicts if c.field != "deleted" and c.outlook_value is not None}
    conflicts.update({c.field: c for c in (result.conflicts if result is not None else ())})
    kept = tuple(c for name, c in sorted(conflicts.items()) if c.outlook_value != ours.get(name))
    return [*actions[:-2], NoteOutlookVersion(kept), *actions[-2:]] if kept else actions
