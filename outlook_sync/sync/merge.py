"""Three-way field merge of a WedSync event and its Outlook copy (pure).

Inputs are snapshots (see :mod:`outlook_sync.sync.mapping`): ``base`` is what
both sides agreed on at the last sync, ``wedsync`` and ``outlook`` are the sides
now. Per field:

=====================================  ==========================================
both sides equal                       agreed, nothing to write
changed on one side only (vs base)     that side wins, the other side takes it
changed on both to the same value      agreed
changed on both to different values    a :class:`SyncConflict`, unless a stored
                                       rule picks a side
=====================================  ==========================================

With no base (first contact, e.g. matching a tagged event after a crash) every
differing field counts as changed on both sides: we cannot know who edited.
A conflicted field keeps its base value in ``merged`` so the next merge sees
the same two edits again instead of silently picking one.

Suggested resolutions (shown to the supplier, never applied without a rule):

- ``when`` -> ``manual_review``: moving a wedding-day appointment is never guessed.
- ``title`` and ``attendees`` -> ``use_wedsync``: WedSync holds the client record
  the title and guest list come from.
- ``location`` and ``description`` -> ``use_outlook`` when the two differ only in
  case or spacing (a cosmetic touch-up in Outlook; nothing is lost); the longer
  side when one contains the other (it keeps both edits' detail); otherwise
  ``manual_review``.
- an event deleted on one side and edited on the other -> ``manual_review``.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

SYNC_FIELDS: tuple[str, ...] = ("title", "when", "location", "description", "attendees")
CONFLICT_TYPE: dict[str, str] = {
    "title": "title",
    "when": "date_time",
    "location": "location",
    "description": "description",
    "attendees": "attendees",
}
#: The pseudo-field of a conflict "deleted on one side, edited on the other".
DELETED = "deleted"

USE_WEDSYNC, USE_OUTLOOK, MANUAL_REVIEW = "use_wedsync", "use_outlook", "manual_review"

Side = Literal["wedsync", "outlook"]


@dataclass(frozen=True)
class SyncConflict:
    """The spec's ``SyncConflict``. For ``field == "deleted"`` the deleted side's value is None."""

    field: str
    wedsync_value: Any
    outlook_value: Any
    conflict_type: str
    suggested_resolution: str

    def to_contract(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "wedSyncValue": self.wedsync_value,
            "outlookValue": self.outlook_value,
            "conflictType": self.conflict_type,
            "suggestedResolution": self.suggested_resolution,
        }

    @classmethod
    def from_contract(cls, data: Mapping[str, Any]) -> SyncConflict:
        return cls(
            field=data["field"],
            wedsync_value=data.get("wedSyncValue"),
            outlook_value=data.get("outlookValue"),
            conflict_type=data["conflictType"],
            suggested_resolution=data["suggestedResolution"],
        )

    def value_of(self, side: Side) -> Any:
        return self.wedsync_value if side == "wedsync" else self.outlook_value


@dataclass(frozen=True)
class MergeResult:
    """What the engine must do: write ``to_wedsync`` and ``to_outlook``, store ``merged`` as the new base.

    ``merged`` holds every field: the agreed value, or the base value (None
    without a base) for a conflicted field. Attendees that are not synced for
    the type are None. ``auto_resolved`` names the fields a stored rule decided.
    """

    merged: dict[str, Any]
    to_wedsync: dict[str, Any] = field(default_factory=dict)
    to_outlook: dict[str, Any] = field(default_factory=dict)
    conflicts: tuple[SyncConflict, ...] = ()
    auto_resolved: tuple[str, ...] = ()

    @property
    def is_clean(self) -> bool:
        return not self.conflicts


def rule_key(event_type: str, conflict_type: str) -> str:
    """Key of a stored default rule; ``"*"`` as event type applies to every type."""
    return f"{event_type}:{conflict_type}"


def rule_side(rules: Mapping[str, str] | None, event_type: str, conflict_type: str) -> Side | None:
    """The side a stored rule picks (the type's own rule before the ``*`` one), or None.

    Accepts ``"wedsync"``/``"outlook"`` and the spec's ``"use_wedsync"``/``"use_outlook"`` spellings.
    """
    if not rules:
        return None
    for key in (rule_key(event_type, conflict_type), rule_key("*", conflict_type)):
        side = _SIDE_NAMES.get(str(rules.get(key) or ""))
        if side:
            return side
    return None


_SIDE_NAMES: dict[str, Side] = {"wedsync": "wedsync", "use_wedsync": "wedsync", "outlook": "outlook", "use_outlook": "outlook"}


def merge(
    base: Mapping[str, Any] | None,
    wedsync: Mapping[str, Any],
    outlook: Mapping[str, Any],
    *,
    event_type: str,
    rules: Mapping[str, str] | None = None,
) -> MergeResult:
    merged: dict[str, Any] = {}
    to_wedsync: dict[str, Any] = {}
    to_outlook: dict[str, Any] = {}
    conflicts: list[SyncConflict] = []
    auto_resolved: list[str] = []
    for name in SYNC_FIELDS:
        w, o = wedsync.get(name), outlook.get(name)
        b = base.get(name) if base is not None else None
        if name == "attendees" and (w is None or o is None):
            merged[name] = None  # not synced for this type: never a conflict
            continue
        if w == o:
            merged[name] = w
            continue
        wedsync_changed = base is None or w != b
        outlook_changed = base is None or o != b
        if wedsync_changed and not outlook_changed:
            winner: Side | None = "wedsync"
        elif outlook_changed and not wedsync_changed:
            winner = "outlook"
        else:
            winner = rule_side(rules, event_type, CONFLICT_TYPE[name])
            if winner is None:
                merged[name] = b
                conflicts.append(SyncConflict(name, w, o, CONFLICT_TYPE[name], suggest(name, w, o)))
                continue
            auto_resolved.append(name)
        if winner == "wedsync":
            merged[name] = to_outlook[name] = w
        else:
            merged[name] = to_wedsync[name] = o
    return MergeResult(merged, to_wedsync, to_outlook, tuple(conflicts), tuple(auto_resolved))


def suggest(name: str, wedsync_value: Any, outlook_value: Any) -> str:
    """The ``suggestedResolution`` of a field conflict (reasons in the module docstring)."""
    if name in ("title", "attendees"):
        return USE_WEDSYNC
    if name in ("location", "description"):
        w, o = _loose(wedsync_value), _loose(outlook_value)
        if w == o:
            return USE_OUTLOOK
        if w and o and (w in o or o in w):
            return USE_WEDSYNC if len(w) > len(o) else USE_OUTLOOK
    return MANUAL_REVIEW


def _loose(value: Any) -> str:
    return re.sub(r"\s+", " ", str(value or "")).strip().casefold()


# --------------------------------------------------------------------------- deletions


def edited_fields(base: Mapping[str, Any] | None, surviving: Mapping[str, Any]) -> list[str]:
    """Fields of ``surviving`` that differ from ``base`` (all of them without a base)."""
    if base is None:
        return list(SYNC_FIELDS)
    return [
        name
        for name in SYNC_FIELDS
        if not (name == "attendees" and (surviving.get(name) is None or base.get(name) is None))
        and surviving.get(name) != base.get(name)
    ]


def merge_deletion(base: Mapping[str, Any] | None, surviving: Mapping[str, Any], *, deleted_on: Side, event_type: str) -> Literal["delete", "conflict"]:
    """Deleted on one side: delete on the other unless it was edited there since the base.

    Without a base we cannot prove the survivor is unedited, so it is a conflict:
    deleting a supplier's booking on a guess is worse than asking.
    ``event_type`` is accepted for symmetry with :func:`merge` (rules never decide deletions).
    """
    if deleted_on not in ("wedsync", "outlook"):
        raise ValueError(f"deleted_on must be 'wedsync' or 'outlook', not {deleted_on!r}")
    return "conflict" if edited_fields(base, surviving) else "delete"


def deletion_conflict(base: Mapping[str, Any] | None, surviving: Mapping[str, Any], *, deleted_on: Side) -> SyncConflict:
    """The conflict for "deleted on ``deleted_on``, edited on the other side".

    The spec has no "deleted" conflict type, so it takes the type of the first
    edited field. The deleted side's value is None.
    """
    edited = edited_fields(base, surviving) or ["title"]
    survivor = dict(surviving)
    return SyncConflict(
        field=DELETED,
        wedsync_value=None if deleted_on == "wedsync" else survivor,
        outlook_value=None if deleted_on == "outlook" else survivor,
        conflict_type=CONFLICT_TYPE[edited[0]],
        suggested_resolution=MANUAL_REVIEW,
    )


# --------------------------------------------------------------------------- resolving


class ResolutionError(ValueError):
    """Invalid ``resolutions``; ``errors`` maps each field to a message for the supplier."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def resolve(conflicts: tuple[SyncConflict, ...] | list[SyncConflict], resolutions: Any) -> dict[str, Any]:
    """The chosen value per resolved field, validated; conflicts not mentioned stay open.

    ``resolutions`` is the spec's ``ResolveConflictRequest.resolutions``:
    ``{field: {"useValue": "wedsync"|"outlook"|"custom", "customValue": ...}}``.
    Custom values are returned in snapshot form (``when`` as UTC ``Z`` strings or
    dates, attendees sorted lowercased emails). For ``"deleted"`` the value is
    None (delete the survivor) or the surviving snapshot (re-create it); a custom
    value is not allowed there.
    """
    if not isinstance(resolutions, Mapping) or not resolutions:
        raise ResolutionError({"resolutions": "Choose how to resolve at least one conflict."})
    by_field = {c.field: c for c in conflicts}
    errors: dict[str, str] = {}
    chosen: dict[str, Any] = {}
    for name, choice in resolutions.items():
        if name not in SYNC_FIELDS and name != DELETED:
            errors[name] = f'"{name}" is not something WedSync syncs with Outlook.'
            continue
        conflict = by_field.get(name)
        if conflict is None:
            errors[name] = "There is no conflict to resolve for this field (it may already be in sync)."
            continue
        use = choice.get("useValue") if isinstance(choice, Mapping) else None
        if use in ("wedsync", "outlook"):
            chosen[name] = conflict.value_of(use)
        elif use == "custom":
            if name == DELETED:
                errors[name] = "Choose whether to keep the event (the side that still has it) or delete it; a custom value isn't possible here."
            elif "customValue" not in choice:
                errors[name] = "Enter the value you want to use on both calendars."
            else:
                try:
                    chosen[name] = clean_custom_value(name, choice["customValue"])
                except ValueError as exc:
                    errors[name] = str(exc)
        else:
            errors[name] = 'Choose "wedsync", "outlook" or "custom".'
    if errors:
        raise ResolutionError(errors)
    return chosen


def default_rules(conflicts, resolutions: Mapping[str, Any], *, event_type: str) -> dict[str, str]:
    """Rules to store for ``setAsDefault``: one per field resolved by picking a side.

    Custom values and deletions are one-offs and never become rules.
    """
    by_field = {c.field: c for c in conflicts}
    rules: dict[str, str] = {}
    for name, choice in resolutions.items():
        conflict = by_field.get(name)
        use = choice.get("useValue") if isinstance(choice, Mapping) else None
        if conflict is not None and name != DELETED and use in ("wedsync", "outlook"):
            rules[rule_key(event_type, conflict.conflict_type)] = use
    return rules


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def clean_custom_value(name: str, value: Any) -> Any:
    """A supplier-entered value in snapshot form, or ValueError with a message for them."""
    if name == "title":
        if not isinstance(value, str) or not value.strip():
            raise ValueError("The title can't be empty.")
        if len(value) > 255:
            raise ValueError("Keep the title to 255 characters or fewer.")
        return value.strip()
    if name == "location":
        if not isinstance(value, str):
            raise ValueError("The location must be text.")
        if len(value) > 255:
            raise ValueError("Keep the location to 255 characters or fewer.")
        return value.strip()
    if name == "description":
        if not isinstance(value, str):
            raise ValueError("The description must be text.")
        return value.replace("\r\n", "\n").strip()
    if name == "attendees":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError("Attendees must be a list of email addresses.")
        emails = sorted({v.strip().lower() for v in value if v.strip()})
        bad = [e for e in emails if not _EMAIL.match(e)]
        if bad:
            raise ValueError(f"These don't look like email addresses: {', '.join(bad)}.")
        return emails
    if name == "when":
        return _clean_when(value)
    raise ValueError(f'"{name}" is not something WedSync syncs with Outlook.')


def _clean_when(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping) or not {"start", "end", "allDay"} <= set(value):
        raise ValueError('The date and time need "start", "end" and "allDay".')
    if not isinstance(value["allDay"], bool):
        raise ValueError('"allDay" must be true or false.')
    if value["allDay"]:
        try:
            start, end = (dt.date.fromisoformat(str(value[k])[:10]) for k in ("start", "end"))
        except ValueError:
            raise ValueError("All-day dates must look like 2026-06-20.") from None
        if end <= start:
            raise ValueError("An all-day event must end after the day it starts (the end date is the day after the last day).")
        return {"start": start.isoformat(), "end": end.isoformat(), "allDay": True}
    try:
        start, end = (dt.datetime.fromisoformat(str(value[k]).replace("Z", "+00:00")) for k in ("start", "end"))
    except ValueError:
        raise ValueError("Times must look like 2026-06-20T15:00:00Z.") from None
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("Times need a time zone, for example 2026-06-20T15:00:00Z or 2026-06-20T16:00:00+01:00.")
    if end <= start:
        raise ValueError("The event must end after it starts.")
    utc = dt.timezone.utc
    return {
        "start": start.astimezone(utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end": end.astimezone(utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "allDay": False,
    }
