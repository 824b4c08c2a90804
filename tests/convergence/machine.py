"""A hypothesis state machine that drives the REAL planner and engine against the emulator.

Nothing is modelled: WedSync is changed through ``/api/events/`` and the
settings API, Outlook through the emulator's control API (what the supplier
does in Outlook), sync runs are started through ``POST /sync``, and every run
(pushes on commit included) executes the real Celery tasks, the real engine and
planner, over HTTPS to the emulator. Celery runs eagerly (in this process) so
that one hypothesis case is one deterministic interleaving: the machine decides
what happens between two runs, not the scheduler.

Rules: create, edit, move (also past the 365-day window and back), delete on
either side; prefix changes; a round of one-way sync (direction changes);
faults (503 bursts on writes and ``$batch``, 429 with Retry-After, an expired
delta token); incremental and full syncs at any point. After ``settle`` (faults
cleared, then syncs until idle) the invariants of
:func:`tests.faults.convergence.problems` must hold (one tagged copy per live
synced event, no orphans or duplicates, subject = prefix + title, same instants,
nothing pending) and every last edit must be on both sides or shown as a
conflict on that field, every delete propagated or shown as a delete-vs-edit
conflict. At the end every conflict is resolved through the API and the world
must converge again with no conflict left.
"""
from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

from django.utils import timezone
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from tests.conftest import MAILBOX
from tests.faults import convergence
from tests.integration.outlook_helpers import BASE, connect

WINDOW_DAYS = (2, 9, 40, 400)  # 400: past the synced window
TYPES = ("client_meeting", "wedding_ceremony", "deadline", "vendor_meeting")
TITLES = ("Tasting", "Walk-through", "Final numbers", "Rehearsal dinner", "Fitting")
PLACES = ("The Old Barn", "The Orangery", "St Mary's", "Walled Garden")
PREFIXES = ("WedSync: ", "[WS] ", "")


def at(days: int, hour: int) -> dt.datetime:
    day = (timezone.now() + dt.timedelta(days=days)).date()
    return dt.datetime(day.year, day.month, day.day, hour, 0, tzinfo=dt.timezone.utc)


def graph_when(start: dt.datetime, end: dt.datetime) -> dict:
    fmt = "%Y-%m-%dT%H:%M:%S.0000000"
    return {"start": {"dateTime": start.strftime(fmt), "timeZone": "UTC"}, "end": {"dateTime": end.strftime(fmt), "timeZone": "UTC"}}


@dataclass
class Ledger:
    """The last edit per (event, field) since the last settle, and deletes; what must survive."""

    edits: dict[tuple[str, str], object] = field(default_factory=dict)
    deleted: dict[str, str] = field(default_factory=dict)  # event id -> side that deleted it

    def edit(self, event_id: str, name: str, value) -> None:
        self.edits[(event_id, name)] = value

    def clear(self) -> None:
        self.edits.clear()
        self.deleted.clear()


class SyncMachine(RuleBasedStateMachine):
    """One hypothesis case = one supplier, connected, with a few events on both sides."""

    #: Set by the test before it runs the machine (function-scoped fixtures).
    api_client = None
    graph = None
    supplier = None
    trace: list[str] | None = None

    def __init__(self):
        super().__init__()
        self.ledger = Ledger()
        self.events: list[str] = []
        self.prefix = "WedSync: "
        self.faulty = False
        self.steps: list[str] = []

    # --- helpers ---
    def log(self, text: str) -> None:
        self.steps.append(text)
        if self.trace is not None:
            self.trace.append(text)

    def api(self, method: str, path: str, data=None, ok=(200, 201, 202, 204)):
        response = getattr(self.api_client, method)(path, data) if data is not None else getattr(self.api_client, method)(path)
        assert response.status_code in ok, (method, path, response.status_code, response.content[:300])
        return response.json() if response.content and response["Content-Type"].startswith("application/json") else None

    def mapping_of(self, event_id: str) -> dict | None:
        rows = convergence._pages(self.api_client, f"{BASE}/events", "events")
        return next((r for r in rows if r["wedSyncEventId"] == event_id), None)

    def outlook_id(self, event_id: str) -> str | None:
        row = self.mapping_of(event_id)
        if row is None:
            return None
        ids = {e["id"] for e in self.graph.events(MAILBOX)}
        return row["outlookEventId"] if row["outlookEventId"] in ids else None

    def sync(self, sync_type: str) -> None:
        self.api("post", f"{BASE}/sync", {"syncType": sync_type}, ok=(202, 409))

    def live(self, event_id: str) -> dict | None:
        response = self.api_client.get(f"/api/events/{event_id}/")
        if response.status_code != 200:
            return None
        body = response.json()
        return None if body.get("isDeleted") else body

    # --- set-up ---
    @initialize(n=st.integers(1, 3))
    def start(self, n):
        for i in range(n):
            created = self.api("post", "/api/events/", {
                "eventType": TYPES[i % len(TYPES)], "title": f"{TITLES[i]} {i}", "location": PLACES[i % len(PLACES)],
                "startsAt": at(3 + i, 14).isoformat(), "endsAt": at(3 + i, 15).isoformat(), "timeZone": "Europe/London", "attendees": [],
                **({"isAllDay": True, "startsAt": at(5, 0).isoformat(), "endsAt": at(6, 0).isoformat()} if TYPES[i % len(TYPES)] == "deadline" else {}),
            })
            self.events.append(created["id"])
        self.graph.create_event(MAILBOX, {"subject": "Dentist", **graph_when(at(3, 9), at(3, 10)), "showAs": "busy"})
        connect(self.api_client, self.graph)
        self.log(f"start with {n} events")

    # --- WedSync side ---
    # Every rule draws all it needs before it looks at the live system: what is drawn must not depend on what the
    # sync did (hypothesis replays a case by its draws; a draw skipped on one run and made on another is
    # "inconsistent data generation").
    @rule(kind=st.sampled_from(TYPES), days=st.sampled_from(WINDOW_DAYS[:3]), title=st.sampled_from(TITLES))
    def wedsync_create(self, kind, days, title):
        created = self.api("post", "/api/events/", {
            "eventType": kind, "title": f"{title} (new)", "location": "", "startsAt": at(days, 11).isoformat(),
            "endsAt": at(days, 12).isoformat(), "timeZone": "Europe/London", "attendees": [],
        })
        self.events.append(created["id"])
        self.log(f"wedsync create {kind} +{days}d")

    @precondition(lambda self: self.events)
    @rule(data=st.data(), name=st.sampled_from(("title", "location")))
    def wedsync_edit(self, data, name):
        event_id = data.draw(st.sampled_from(self.events))
        value = data.draw(st.sampled_from(TITLES if name == "title" else PLACES)) + f" w{len(self.steps)}"
        if self.live(event_id) is None:
            return
        self.api("patch", f"/api/events/{event_id}/", {name: value})
        self.ledger.edit(event_id, name, value)
        self.log(f"wedsync edit {event_id[:6]} {name}={value!r}")

    @precondition(lambda self: self.events)
    @rule(data=st.data(), days=st.sampled_from(WINDOW_DAYS))
    def wedsync_move(self, data, days):
        event_id = data.draw(st.sampled_from(self.events))
        event = self.live(event_id)
        if event is None or event["isAllDay"]:
            return
        start, end = at(days, 16), at(days, 17)
        self.api("patch", f"/api/events/{event_id}/", {"startsAt": start.isoformat(), "endsAt": end.isoformat()})
        self.ledger.edit(event_id, "when", (start, end))
        self.log(f"wedsync move {event_id[:6]} +{days}d")

    @precondition(lambda self: self.events)
    @rule(data=st.data())
    def wedsync_delete(self, data):
        event_id = data.draw(st.sampled_from(self.events))
        if self.live(event_id) is None:
            return
        self.api("delete", f"/api/events/{event_id}/")
        self.ledger.deleted[event_id] = "wedsync"
        self.log(f"wedsync delete {event_id[:6]}")

    # --- Outlook side (the supplier in Outlook; no notification: the next run sees it) ---
    @precondition(lambda self: self.events)
    @rule(data=st.data(), name=st.sampled_from(("title", "location")))
    def outlook_edit(self, data, name):
        event_id = data.draw(st.sampled_from(self.events))
        value = data.draw(st.sampled_from(TITLES if name == "title" else PLACES)) + f" o{len(self.steps)}"
        retyped = data.draw(st.booleans()) if name == "title" else False
        outlook_id = self.outlook_id(event_id)
        if outlook_id is None:
            return
        change = {"subject": value if retyped else f"{self.prefix}{value}"} if name == "title" else {"location": {"displayName": value}}
        self.graph.update_event(MAILBOX, outlook_id, change)
        self.ledger.edit(event_id, name, value)
        self.log(f"outlook edit {event_id[:6]} {name}={value!r}{' (prefix retyped away)' if retyped else ''}")

    @precondition(lambda self: self.events)
    @rule(data=st.data(), days=st.sampled_from(WINDOW_DAYS))
    def outlook_move(self, data, days):
        event_id = data.draw(st.sampled_from(self.events))
        outlook_id = self.outlook_id(event_id)
        event = self.live(event_id)
        if outlook_id is None or event is None or event["isAllDay"]:
            return
        start, end = at(days, 18), at(days, 19)
        self.graph.update_event(MAILBOX, outlook_id, graph_when(start, end))
        self.ledger.edit(event_id, "when", (start, end))
        self.log(f"outlook move {event_id[:6]} +{days}d")

    @precondition(lambda self: self.events)
    @rule(data=st.data())
    def outlook_delete(self, data):
        event_id = data.draw(st.sampled_from(self.events))
        outlook_id = self.outlook_id(event_id)
        if outlook_id is None:
            return
        self.graph.delete_event(MAILBOX, outlook_id)
        self.ledger.deleted[event_id] = "outlook"
        self.log(f"outlook delete {event_id[:6]}")

    # --- settings ---
    @rule(prefix=st.sampled_from(PREFIXES))
    def change_prefix(self, prefix):
        if prefix == self.prefix:
            return
        self.api("put", f"{BASE}/settings", {"syncPreferences": {"eventPrefix": prefix}})
        self.prefix = prefix
        self.log(f"prefix {prefix!r}")

    @rule(direction=st.sampled_from(("to_outlook", "from_outlook")))
    def one_way_round(self, direction):
        """The supplier switches to one direction, syncs, and back: the chosen side wins every difference in between."""
        self.settle()
        self.api("put", f"{BASE}/settings", {"syncDirection": direction})
        self.api("put", f"{BASE}/settings", {"syncDirection": "bidirectional"})
        self.ledger.clear()  # one-way sync overwrites the other side by design
        self.log(f"direction round {direction}")

    # --- faults and runs ---
    @rule(kind=st.sampled_from(("batch503", "patch503", "delete503", "throttle", "delta410")))
    def fault(self, kind):
        if kind == "batch503":
            self.graph.inject_fault("POST", r"/\$batch", status=503, count=2, retry_after=0)
        elif kind == "patch503":
            self.graph.inject_fault("PATCH", r"/events/", status=503, count=3, retry_after=0)
        elif kind == "delete503":
            self.graph.inject_fault("DELETE", r"/events/", status=503, count=12, retry_after=0)
        elif kind == "throttle":
            self.graph.inject_fault("GET", r"/events", status=429, count=2, retry_after=0)
        else:
            self.graph.expire_delta_tokens()
        self.faulty = True
        self.log(f"fault {kind}")

    @rule(sync_type=st.sampled_from(("incremental", "full_sync")))
    def run(self, sync_type):
        self.sync(sync_type)
        self.log(f"sync {sync_type}")

    # --- settling and the checks ---
    def settle(self) -> list[str]:
        self.graph.clear_faults()
        found: list[str] = []
        for round_ in range(4):
            self.sync("incremental")
            self.sync("full_sync" if round_ % 2 == 0 else "incremental")
            found = convergence.problems(self.api_client, self.graph, supplier=self.supplier) + self.lost()
            if not found:
                return []
        return found

    def lost(self) -> list[str]:
        """Edits neither applied nor shown as a conflict; deletes neither propagated nor shown as delete-vs-edit."""
        out = []
        rows = {r["wedSyncEventId"]: r for r in convergence._pages(self.api_client, f"{BASE}/events", "events")}
        outlook = self.graph.events(MAILBOX)
        for event_id, side in self.ledger.deleted.items():
            row = rows.get(event_id)
            conflicted = row is not None and row["syncStatus"] == "conflict" and any(c["field"] == "deleted" for c in row.get("syncConflicts") or [])
            if conflicted:
                continue
            if self.live(event_id) is not None:
                out.append(f"deleted in {side}, but {event_id[:6]} is live in WedSync without a delete-vs-edit conflict")
            if any(convergence._tag(e, self.integration_id()) == event_id for e in outlook):
                out.append(f"deleted {event_id[:6]} still has a copy in Outlook without a conflict")
        for (event_id, name), value in self.ledger.edits.items():
            if event_id in self.ledger.deleted:
                continue
            event = self.live(event_id)
            row = rows.get(event_id)
            if row is not None and row["syncStatus"] == "conflict" and {name, "deleted"} & {c["field"] for c in row.get("syncConflicts") or []}:
                continue
            if event is None:
                out.append(f"edited {event_id[:6]} ({name}) was deleted without a conflict")
                continue
            if name == "when":
                current = (convergence._instant(event["startsAt"]), convergence._instant(event["endsAt"]))
            else:
                current = event[name]
            if current != value:
                out.append(f"lost edit: {event_id[:6]} {name} should be {value!r} (or a conflict), is {current!r}")
        return out

    def integration_id(self) -> str:
        return self.api("get", f"{BASE}/sync")["integration"]["id"]

    @precondition(lambda self: len(self.steps) % 4 == 3)
    @invariant()
    def converges_after_settle(self):
        found = self.settle()
        assert not found, "not converged:\n  " + "\n  ".join(found[:20]) + "\nsteps:\n  " + "\n  ".join(self.steps)
        self.ledger.clear()

    def teardown(self):
        if self.api_client is None or self.api_client.get(f"{BASE}/sync").status_code != 200:
            return
        found = self.settle()
        assert not found, "not converged:\n  " + "\n  ".join(found[:20]) + "\nsteps:\n  " + "\n  ".join(self.steps)
        self.ledger.clear()
        # Resolve every conflict through the API; the world must converge with none left.
        for _ in range(3):
            rows = [r for r in convergence._pages(self.api_client, f"{BASE}/events", "events") if r["syncStatus"] == "conflict"]
            if not rows:
                break
            for row in rows:
                choices = {c["field"]: {"useValue": "wedsync"} for c in row.get("syncConflicts") or []}
                response = self.api_client.post(f"{BASE}/events/{row['wedSyncEventId']}/resolve", {"resolutions": choices})
                assert response.status_code in (200, 409), response.content
            found = self.settle()
            assert not found, "not converged after resolving:\n  " + "\n  ".join(found[:20]) + "\nsteps:\n  " + "\n  ".join(self.steps)
        remaining = [r for r in convergence._pages(self.api_client, f"{BASE}/events", "events") if r["syncStatus"] == "conflict"]
        assert not remaining, f"conflicts left after resolving: {[r['syncConflicts'] for r in remaining]}\nsteps:\n  " + "\n  ".join(self.steps)


def reset_world(api_client, graph, supplier) -> None:
    """A clean supplier and mailbox for the next case (the database outlives hypothesis cases)."""
    from outlook_sync.models import OutlookCalendarIntegration
    from wedsync.events.models import CalendarEvent

    OutlookCalendarIntegration.objects.filter(user=supplier).delete()
    CalendarEvent.objects.filter(supplier=supplier).delete()
    graph.reset()
    graph.create_user(MAILBOX, "Avery Quinn")


def timed(fn):
    started = time.monotonic()
    fn()
    return time.monotonic() - started
