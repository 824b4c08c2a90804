"""Random edit sequences on both sides converge, with no duplicates and no lost edits.

A model of two replicas (WedSync and Outlook) of a supplier's events, synced
the way the engine does it: three-way :func:`merge` per mapped event,
:func:`merge_deletion` when one side lost the event, creates with a
deterministic ``transactionId`` (Graph returns the existing event for a
repeated id, even after a crash between the create and the mapping write), and
conflicts left open until the supplier resolves them through :func:`resolve`.
"""
from __future__ import annotations

import itertools

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from outlook_sync.sync.mapping import transaction_id
from outlook_sync.sync.merge import DELETED, SYNC_FIELDS, deletion_conflict, merge, merge_deletion, resolve

INTEGRATION_ID = "integration-1"
EVENT_TYPES = {"client_meeting": True, "wedding_ceremony": False}  # type -> attendees synced
VALUES = {
    "title": ["Consultation", "Tasting", "Final fitting"],
    "when": [
        {"start": "2026-06-20T15:00:00Z", "end": "2026-06-20T16:00:00Z", "allDay": False},
        {"start": "2026-06-20T16:00:00Z", "end": "2026-06-20T17:00:00Z", "allDay": False},
        {"start": "2026-06-20", "end": "2026-06-21", "allDay": True},
    ],
    "location": ["", "The Old Barn", "Registry office"],
    "description": ["", "Bring samples", "Parking at rear"],
    "attendees": [[], ["priya@example.com"], ["priya@example.com", "sam@example.com"]],
}
NO_BASE = object()
EDITABLE = ("title", "when", "location", "description", "attendees")


class FakeGraph:
    """Outlook as far as sync cares: events with an optional WedSync tag, and transactionId dedup."""

    def __init__(self):
        self.events: dict[str, dict] = {}  # outlook id -> {"tag": wedsync id | None, "snapshot": {...}}
        self.transactions: dict[str, str] = {}  # remembered even after the event is deleted
        self._ids = itertools.count(1)
        self.creates = 0

    def create(self, tag: str | None, snapshot: dict, txn: str | None) -> tuple[str, bool]:
        """(outlook id, created). A known transactionId returns the first event's id, which may be deleted by now."""
        if txn is not None and txn in self.transactions:
            return self.transactions[txn], False
        outlook_id = f"ol-{next(self._ids)}"
        self.events[outlook_id] = {"tag": tag, "snapshot": dict(snapshot)}
        if txn is not None:
            self.transactions[txn] = outlook_id
        self.creates += 1
        return outlook_id, True

    def tagged(self, wedsync_id: str) -> list[str]:
        return [oid for oid, e in self.events.items() if e["tag"] == wedsync_id]


class Crash(Exception):
    """The worker died right after a Graph create, before the mapping was written."""


class TwoReplicaSync(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.wedsync: dict[str, dict] = {}  # live WedSync events: id -> snapshot
        self.event_types: dict[str, str] = {}
        self.graph = FakeGraph()
        self.mappings: dict[str, str] = {}  # wedsync id -> outlook id
        self.base: dict[str, dict] = {}
        self.attempts: dict[str, int] = {}
        self.conflicts: dict[str, tuple] = {}
        self.own_outlook_events: dict[str, dict] = {}  # the supplier's own, untagged
        # (side, wedsync id, field) -> (last value, the agreed value when it was made); cleared by a completed sync
        self.pending_edits: dict[tuple[str, str, str], tuple[object, object]] = {}
        self.pending_deletes: set[tuple[str, str]] = set()
        self._ids = itertools.count(1)

    # ------------------------------------------------------------------ helpers

    def outlook_copy(self, wedsync_id: str) -> dict | None:
        oid = self.mappings.get(wedsync_id)
        return self.graph.events.get(oid) if oid else None

    def draw_snapshot(self, data, event_type: str) -> dict:
        snapshot = {name: data.draw(st.sampled_from(VALUES[name])) for name in SYNC_FIELDS}
        if not EVENT_TYPES[event_type]:
            snapshot["attendees"] = None
        return snapshot

    def record_edit(self, side: str, wedsync_id: str, name: str, value) -> None:
        agreed = self.base[wedsync_id][name] if wedsync_id in self.base else NO_BASE
        self.pending_edits[(side, wedsync_id, name)] = (value, agreed)

    def forget(self, wedsync_id: str) -> None:
        self.mappings.pop(wedsync_id, None)
        self.base.pop(wedsync_id, None)
        self.conflicts.pop(wedsync_id, None)

    def set_conflicts(self, wedsync_id: str, conflicts: tuple) -> None:
        if conflicts:
            self.conflicts[wedsync_id] = tuple(conflicts)
        else:
            self.conflicts.pop(wedsync_id, None)

    # ------------------------------------------------------------------ the supplier's actions

    @rule(data=st.data(), event_type=st.sampled_from(sorted(EVENT_TYPES)))
    def create_on_wedsync(self, data, event_type):
        wedsync_id = f"ev-{next(self._ids)}"
        self.wedsync[wedsync_id] = self.draw_snapshot(data, event_type)
        self.event_types[wedsync_id] = event_type
        for name, value in self.wedsync[wedsync_id].items():
            if value is not None:
                self.record_edit("wedsync", wedsync_id, name, value)

    @rule(data=st.data())
    def create_own_outlook_event(self, data):
        oid, _ = self.graph.create(None, self.draw_snapshot(data, "client_meeting"), txn=None)
        self.own_outlook_events[oid] = dict(self.graph.events[oid]["snapshot"])

    @precondition(lambda self: self.wedsync)
    @rule(data=st.data(), name=st.sampled_from(EDITABLE))
    def edit_on_wedsync(self, data, name):
        wedsync_id = data.draw(st.sampled_from(sorted(self.wedsync)))
        snapshot = self.wedsync[wedsync_id]
        if snapshot[name] is None:
            return  # attendees are not synced for this type
        snapshot[name] = data.draw(st.sampled_from(VALUES[name]))
        self.record_edit("wedsync", wedsync_id, name, snapshot[name])

    @precondition(lambda self: any(e["tag"] for e in self.graph.events.values()))
    @rule(data=st.data(), name=st.sampled_from(EDITABLE))
    def edit_on_outlook(self, data, name):
        oid = data.draw(st.sampled_from(sorted(o for o, e in self.graph.events.items() if e["tag"])))
        event = self.graph.events[oid]
        if event["snapshot"][name] is None:
            return
        event["snapshot"][name] = data.draw(st.sampled_from(VALUES[name]))
        self.record_edit("outlook", event["tag"], name, event["snapshot"][name])

    @precondition(lambda self: any(self.outlook_copy(i) for i in self.wedsync))
    @rule(data=st.data(), name=st.sampled_from(EDITABLE))
    def edit_same_field_on_both_sides(self, data, name):
        """The usual way conflicts arise: the supplier and their assistant touch the same field."""
        wedsync_id = data.draw(st.sampled_from(sorted(i for i in self.wedsync if self.outlook_copy(i))))
        for side, snapshot in (("wedsync", self.wedsync[wedsync_id]), ("outlook", self.outlook_copy(wedsync_id)["snapshot"])):
            if snapshot[name] is not None:
                snapshot[name] = data.draw(st.sampled_from(VALUES[name]))
                self.record_edit(side, wedsync_id, name, snapshot[name])

    @precondition(lambda self: self.wedsync)
    @rule(data=st.data())
    def delete_on_wedsync(self, data):
        wedsync_id = data.draw(st.sampled_from(sorted(self.wedsync)))
        del self.wedsync[wedsync_id]
        self.pending_edits = {k: v for k, v in self.pending_edits.items() if k[:2] != ("wedsync", wedsync_id)}
        self.pending_deletes.add(("wedsync", wedsync_id))

    @precondition(lambda self: any(e["tag"] for e in self.graph.events.values()))
    @rule(data=st.data())
    def delete_on_outlook(self, data):
        oid = data.draw(st.sampled_from(sorted(o for o, e in self.graph.events.items() if e["tag"])))
        tag = self.graph.events.pop(oid)["tag"]
        self.pending_edits = {k: v for k, v in self.pending_edits.items() if k[:2] != ("outlook", tag)}
        self.pending_deletes.add(("outlook", tag))

    # ------------------------------------------------------------------ the engine

    @rule(full=st.booleans(), crash=st.integers(0, 4).map(lambda n: n == 0))  # one sync in five dies after a create
    def sync(self, full, crash):
        """A full sync indexes Outlook's tagged events first; a push relies on transactionId alone."""
        known = set(self.wedsync) | set(self.mappings)
        if full:
            known |= {e["tag"] for e in self.graph.events.values() if e["tag"]}
        try:
            for wedsync_id in sorted(known):
                self.sync_event(wedsync_id, full=full, crash=crash)
                self.check_no_edit_lost(wedsync_id)
        except Crash:
            return  # the rest did not run; the next sync must recover without duplicates
        self.check_converged()
        if full:
            self.pending_edits.clear()  # only events created and deleted between two syncs are left
            self.pending_deletes.clear()

    def sync_event(self, wedsync_id: str, *, full: bool, crash: bool) -> None:
        event_type = self.event_types[wedsync_id]
        local = self.wedsync.get(wedsync_id)
        if wedsync_id not in self.mappings:
            tagged = self.graph.tagged(wedsync_id) if full else []
            if tagged:
                event("matched a tagged Outlook event")
                self.mappings[wedsync_id] = tagged[0]
            elif local is not None:
                txn = transaction_id(INTEGRATION_ID, wedsync_id, self.attempts.get(wedsync_id, 0))
                oid, created = self.graph.create(wedsync_id, local, txn)
                if created and crash:
                    event("crash after create")
                    raise Crash
                if not created:
                    event("create answered by transactionId dedup")
                self.mappings[wedsync_id] = oid
                if created:
                    self.base[wedsync_id] = dict(local)
                    return
            else:
                return
        remote = self.outlook_copy(wedsync_id)
        base = self.base.get(wedsync_id)  # None: first contact, nothing proven agreed
        if local is not None and remote is not None:
            result = merge(base, local, remote["snapshot"], event_type=event_type)
            local.update(result.to_wedsync)
            remote["snapshot"].update(result.to_outlook)
            self.base[wedsync_id] = result.merged
            self.set_conflicts(wedsync_id, result.conflicts)
            if result.conflicts:
                event("field conflict")
        elif local is not None or remote is not None:
            deleted_on, surviving = ("outlook", local) if local is not None else ("wedsync", remote["snapshot"])
            if merge_deletion(base, surviving, deleted_on=deleted_on, event_type=event_type) == "delete":
                if local is not None:
                    del self.wedsync[wedsync_id]
                else:
                    del self.graph.events[self.mappings[wedsync_id]]
                self.forget(wedsync_id)
            else:
                event("deletion conflict")
                self.set_conflicts(wedsync_id, (deletion_conflict(base, surviving, deleted_on=deleted_on),))
        else:
            self.forget(wedsync_id)

    def settled(self, wedsync_id: str) -> bool:
        """No edit or delete of this event since the last sync (the supplier resolves what they were shown)."""
        return not any(k[1] == wedsync_id for k in self.pending_edits) and not any(k[1] == wedsync_id for k in self.pending_deletes)

    @precondition(lambda self: any(self.settled(i) for i in self.conflicts))
    @rule(data=st.data())
    def resolve_conflicts(self, data):
        wedsync_id = data.draw(st.sampled_from(sorted(i for i in self.conflicts if self.settled(i))))
        conflicts = self.conflicts[wedsync_id]
        chosen_conflicts = data.draw(st.lists(st.sampled_from(conflicts), min_size=1, unique_by=lambda c: c.field))
        resolutions = {}
        for conflict in chosen_conflicts:
            options = ["wedsync", "outlook"] if conflict.field == DELETED else ["wedsync", "outlook", "custom"]
            use = data.draw(st.sampled_from(options))
            resolutions[conflict.field] = {"useValue": use}
            if use == "custom":
                resolutions[conflict.field]["customValue"] = data.draw(st.sampled_from(VALUES[conflict.field]))
        chosen = resolve(conflicts, resolutions)
        event(f"resolved {'a deletion' if DELETED in chosen else 'fields'}")
        if DELETED in chosen:
            self.apply_deletion_choice(wedsync_id, conflicts[0], chosen[DELETED])
            return
        local, remote = self.wedsync[wedsync_id], self.outlook_copy(wedsync_id)
        for name, value in chosen.items():
            local[name] = remote["snapshot"][name] = self.base[wedsync_id][name] = value
        self.set_conflicts(wedsync_id, tuple(c for c in conflicts if c.field not in chosen))

    def apply_deletion_choice(self, wedsync_id, conflict, value) -> None:
        deleted_on = "wedsync" if conflict.wedsync_value is None else "outlook"
        if value is None:  # the supplier confirmed the deletion
            if deleted_on == "wedsync":
                oid = self.mappings[wedsync_id]
                self.graph.events.pop(oid, None)
            else:
                del self.wedsync[wedsync_id]
            self.forget(wedsync_id)
        elif deleted_on == "wedsync":  # keep the event: restore it in WedSync
            self.wedsync[wedsync_id] = dict(value)
            self.base[wedsync_id] = dict(value)
            self.conflicts.pop(wedsync_id)
        else:  # keep the event: re-create it in Outlook, with a new transactionId
            self.attempts[wedsync_id] = self.attempts.get(wedsync_id, 0) + 1
            txn = transaction_id(INTEGRATION_ID, wedsync_id, self.attempts[wedsync_id])
            oid, created = self.graph.create(wedsync_id, value, txn)
            event("re-created in Outlook")
            assert created, "a deliberate re-create must not be swallowed by transactionId dedup"
            self.mappings[wedsync_id] = oid
            self.base[wedsync_id] = dict(value)
            self.conflicts.pop(wedsync_id)

    # ------------------------------------------------------------------ invariants

    @invariant()
    def no_duplicates(self):
        tags = [e["tag"] for e in self.graph.events.values() if e["tag"]]
        assert len(tags) == len(set(tags)), "a WedSync event has two Outlook copies"
        assert len(set(self.mappings.values())) == len(self.mappings), "two WedSync events share an Outlook event"
        for wedsync_id, oid in self.mappings.items():
            event = self.graph.events.get(oid)
            assert event is None or event["tag"] == wedsync_id

    @invariant()
    def suppliers_own_events_are_left_alone(self):
        for oid, snapshot in self.own_outlook_events.items():
            assert self.graph.events[oid] == {"tag": None, "snapshot": snapshot}
        assert not set(self.wedsync) & set(self.own_outlook_events)

    @invariant()
    def conflicts_belong_to_mapped_events(self):
        assert set(self.conflicts) <= set(self.mappings)

    def check_converged(self):
        for wedsync_id, local in self.wedsync.items():
            assert wedsync_id in self.mappings, "every WedSync event has an Outlook counterpart after a full sync"
            remote = self.outlook_copy(wedsync_id)
            open_fields = {c.field for c in self.conflicts.get(wedsync_id, ())}
            if remote is None:
                assert open_fields == {DELETED}
                continue
            for name in SYNC_FIELDS:
                if name not in open_fields:
                    assert local[name] == remote["snapshot"][name], f"{wedsync_id}.{name} differs after sync"
        for wedsync_id in self.mappings:
            if wedsync_id not in self.wedsync:
                assert {c.field for c in self.conflicts.get(wedsync_id, ())} == {DELETED}

    def check_no_edit_lost(self, wedsync_id: str) -> None:
        """Every edit and delete of the event since it was last synced is in the result or in an open conflict."""
        local, remote = self.wedsync.get(wedsync_id), self.outlook_copy(wedsync_id)
        conflicts = self.conflicts.get(wedsync_id, ())
        for (side, edited_id, name), (value, agreed) in self.pending_edits.items():
            if edited_id != wedsync_id or value == agreed:
                continue  # another event, or set to the value both sides already agreed on
            if local is not None and remote is not None and local[name] == remote["snapshot"][name] == value:
                continue
            listed = any(
                (c.field == name and c.value_of(side) == value)
                or (c.field == DELETED and isinstance(c.value_of(side), dict) and c.value_of(side)[name] == value)
                for c in conflicts
            )
            assert listed, f"the {side} edit of {wedsync_id}.{name} to {value!r} was lost"
        for side, deleted_id in self.pending_deletes:
            if deleted_id == wedsync_id:
                gone = local is None and not self.graph.tagged(wedsync_id)
                assert gone or any(c.field == DELETED for c in conflicts), f"the {side} deletion of {wedsync_id} was lost"
        self.pending_edits = {k: v for k, v in self.pending_edits.items() if k[1] != wedsync_id}
        self.pending_deletes = {k for k in self.pending_deletes if k[1] != wedsync_id}


TwoReplicaSync.TestCase.settings = settings(max_examples=150, stateful_step_count=30)
test_two_replicas_converge = TwoReplicaSync.TestCase
