"""A hypothesis state machine that drives the REAL planner and engine against the emulator.

Nothing is modelled: WedSync is changed through ``/api/events/`` and the
settings API, Outlook through the emulator's control API (what the supplier
does in Outlook), sync runs are started through ``POST /sync``, and every run
(pushes on commit included) executes the real Celery tasks, the real engine and
planner, over HTTPS to the emulator. Celery runs eagerly (in this process) so
that one hypothesis case is one deterministic interleaving: the machine decides
what happens between two runs, not the scheduler.

Rules: create (all nine event types, timed or all-day, in eight time zones),
edit, move (also into the past, past the 365-day window and back), delete on
either side; the supplier's own events in Outlook (created, edited, moved: never
WedSync's to touch); prefix changes; a round of one-way sync (direction
changes); change notifications delivered, lost, duplicated or delayed (held and
delivered later, after newer ones); faults (503 bursts on writes, deletes and
``$batch``, 429 with Retry-After on reads and ``$batch``, read and write
timeouts, a dropped connection, an expired delta token); incremental and full
syncs at any point.

Notifications: the subscription's ``notificationUrl`` is a :class:`NotificationTap`
(a loopback HTTP server that answers Graph's validation and keeps what Graph
POSTs); the machine hands what it kept to the real receiver
(``POST /api/calendar/outlook/webhook`` through the test client) when a rule
says so, so what is lost, doubled or late is a hypothesis draw, not a race.

After ``settle`` (faults cleared, every held notification delivered, syncs until
idle) the invariants of :func:`tests.faults.convergence.problems` must hold
(exactly one tagged copy per live synced event, no orphans or duplicates,
subject = prefix + title, same instants or same dates for all-day, nothing
pending) and: no untagged Outlook event but the supplier's own, each exactly as
the supplier left it; no notification left unprocessed; every last edit on both
sides or shown as a conflict on that field; every delete propagated or shown as
a delete-vs-edit conflict; every conflict shown at the previous settle still
shown (only the supplier settles a conflict). At the end every conflict is
resolved through the API and the world must converge again with no conflict left.
"""
from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from django.test import Client
from django.utils import timezone
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from outlook_sync.models import OutlookNotification
from tests.conftest import MAILBOX, emulator_quiet, wait_for
from tests.faults import convergence
from tests.integration.outlook_helpers import BASE, connect

#: The Graph client's timeout in these cases (``GRAPH_TIMEOUT_SECONDS``, set by the test): a timeout fault costs ~1 s.
TIMEOUT_SECONDS = 1.0
WINDOW_DAYS = (-5, 2, 9, 40, 400)  # -5: in the past part of the window; 400: past the synced window
#: All nine WedSync event types (``mapping.TYPE_SWITCH``).
TYPES = ("client_meeting", "venue_visit", "vendor_meeting", "wedding_ceremony", "wedding_reception", "rehearsal",
         "engagement_shoot", "deadline", "task_due")
#: Eight zones, both hemispheres, half-hour offsets and the date line.
ZONES = ("Europe/London", "America/New_York", "America/Los_Angeles", "Asia/Tokyo", "Australia/Sydney", "Asia/Kolkata",
         "Europe/Berlin", "Pacific/Auckland")
#: How the supplier's Outlook names a zone (Windows names as Outlook writes them, IANA, UTC) -> the zone.
GRAPH_ZONES = {"UTC": "UTC", "Pacific Standard Time": "America/Los_Angeles", "Tokyo Standard Time": "Asia/Tokyo",
               "AUS Eastern Standard Time": "Australia/Sydney", "India Standard Time": "Asia/Kolkata", "Europe/Berlin": "Europe/Berlin"}
TITLES = ("Tasting", "Walk-through", "Final numbers", "Rehearsal dinner", "Fitting")
PLACES = ("The Old Barn", "The Orangery", "St Mary's", "Walled Garden")
PREFIXES = ("WedSync: ", "[WS] ", "")


def at(days: int, hour: int, zone: str = "UTC") -> dt.datetime:
    """``hour`` o'clock in ``zone`` on the day ``days`` from today."""
    day = (timezone.now() + dt.timedelta(days=days)).date()
    return dt.datetime(day.year, day.month, day.day, hour, 0, tzinfo=ZoneInfo(zone))


def graph_when(start: dt.datetime, end: dt.datetime, zone: str = "UTC") -> dict:
    """Graph's start/end: local wall-clock times in ``zone`` (a Windows or IANA name) and that zone's name."""
    fmt = "%Y-%m-%dT%H:%M:%S.0000000"
    tz = ZoneInfo(GRAPH_ZONES.get(zone, zone))
    return {"start": {"dateTime": start.astimezone(tz).strftime(fmt), "timeZone": zone},
            "end": {"dateTime": end.astimezone(tz).strftime(fmt), "timeZone": zone}}


def timed_when(start: dt.datetime, end: dt.datetime) -> tuple:
    return ("timed", start.astimezone(dt.timezone.utc), end.astimezone(dt.timezone.utc))


class NotificationTap:
    """The subscription's notificationUrl: answers Graph's validation handshake and keeps every POST it receives.

    Graph (the emulator) POSTs change and lifecycle notifications here and gets 202 at once; the machine decides
    what reaches the real receiver, and when (:meth:`SyncMachine.notify`).
    """

    def __init__(self):
        self.received: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        tap = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802  (http.server's name)
                url = urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                token = parse_qs(url.query).get("validationToken")
                if token:  # change-notifications-delivery-webhooks.md: echo the token, text/plain, 200
                    answer = token[0].encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                    return
                with tap.lock:
                    tap.received.append((url.path, body))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def take(self) -> list[tuple[str, bytes]]:
        with self.lock:
            taken, self.received = self.received, []
        return taken

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Drawn:
    """Stands for ``st.data()`` when one rule runs another's body with values it drew itself."""

    def __init__(self, *values):
        self.values = list(values)

    def draw(self, strategy):
        return self.values.pop(0)


@dataclass
class Ledger:
    """The last edit per (event, field) since the last settle, and deletes; what must survive."""

    edits: dict[tuple[str, str], object] = field(default_factory=dict)  # "when": ("timed", start, end) / ("all-day", d1, d2)
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
    tap: NotificationTap | None = None
    trace: list[str] | None = None

    def __init__(self):
        super().__init__()
        self.ledger = Ledger()
        self.events: list[str] = []
        self.prefix = "WedSync: "
        self.faulty = False
        self.steps: list[str] = []
        self.settled_at = 0  # len(self.steps) at the last settle
        #: The supplier's own Outlook events (never WedSync's to change): Outlook id -> how the supplier left it.
        self.own: dict[str, tuple] = {}
        #: Notifications Graph sent that the machine holds back (delivered later, after newer ones).
        self.held: list[tuple[str, bytes]] = []
        #: Conflicts shown at the last settle: event id -> fields. Only the supplier may make them go away.
        self.shown: dict[str, set[str]] = {}
        if self.tap is not None:
            self.tap.take()  # whatever the previous case's Graph still sent

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

    def own_snapshot(self, outlook_id: str) -> tuple:
        event = self.graph.event(MAILBOX, outlook_id)
        return (event["subject"], (event.get("location") or {}).get("displayName", ""), convergence._outlook_when(event), event.get("showAs"))

    def sync(self, sync_type: str) -> None:
        self.api("post", f"{BASE}/sync", {"syncType": sync_type}, ok=(202, 409))

    def live(self, event_id: str) -> dict | None:
        response = self.api_client.get(f"/api/events/{event_id}/")
        if response.status_code != 200:
            return None
        body = response.json()
        return None if body.get("isDeleted") else body

    # --- set-up ---
    @initialize(n=st.integers(1, 3), kinds=st.lists(st.sampled_from(TYPES), min_size=3, max_size=3),
                zones=st.lists(st.sampled_from(ZONES), min_size=3, max_size=3))
    def start(self, n, kinds, zones):
        for i in range(n):
            self.create(kinds[i], f"{TITLES[i]} {i}", PLACES[i % len(PLACES)], 3 + i, zones[i], all_day=kinds[i] in ("deadline", "task_due"))
        own = self.graph.create_event(MAILBOX, {"subject": "Dentist", **graph_when(at(3, 9), at(3, 10)), "showAs": "busy"})
        self.own[own["id"]] = self.own_snapshot(own["id"])
        connect(self.api_client, self.graph)
        self.log(f"start with {n} events {kinds[:n]} in {zones[:n]}")

    def create(self, kind: str, title: str, location: str, days: int, zone: str, *, all_day: bool) -> None:
        start, end = (at(days, 0, zone), at(days + 1, 0, zone)) if all_day else (at(days, 11, zone), at(days, 12, zone))
        created = self.api("post", "/api/events/", {
            "eventType": kind, "title": title, "location": location, "startsAt": start.isoformat(),
            "endsAt": end.isoformat(), "timeZone": zone, "attendees": [], "isAllDay": all_day,
        })
        self.events.append(created["id"])

    # --- WedSync side ---
    # Every rule draws all it needs before it looks at the live system: what is drawn must not depend on what the
    # sync did (hypothesis replays a case by its draws; a draw skipped on one run and made on another is
    # "inconsistent data generation").
    @rule(kind=st.sampled_from(TYPES), days=st.sampled_from(WINDOW_DAYS), title=st.sampled_from(TITLES),
          zone=st.sampled_from(ZONES), all_day=st.booleans())
    def wedsync_create(self, kind, days, title, zone, all_day):
        self.create(kind, f"{title} (new)", "", days, zone, all_day=all_day)
        self.log(f"wedsync create {kind} {'all-day ' if all_day else ''}+{days}d {zone}")

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
        if event is None:
            return
        zone = event["timeZone"]
        if event["isAllDay"]:
            start, end = at(days, 0, zone), at(days + 2, 0, zone)
            expected = ("all-day", start.date(), end.date())
        else:
            start, end = at(days, 16, zone), at(days, 17, zone)
            expected = timed_when(start, end)
        self.api("patch", f"/api/events/{event_id}/", {"startsAt": start.isoformat(), "endsAt": end.isoformat()})
        self.ledger.edit(event_id, "when", expected)
        self.log(f"wedsync move {event_id[:6]} +{days}d ({expected[0]})")

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
    @rule(data=st.data(), days=st.sampled_from(WINDOW_DAYS), zone=st.sampled_from(sorted(GRAPH_ZONES)))
    def outlook_move(self, data, days, zone):
        event_id = data.draw(st.sampled_from(self.events))
        outlook_id = self.outlook_id(event_id)
        event = self.live(event_id)
        if outlook_id is None or event is None:
            return
        if event["isAllDay"]:
            # Outlook moves an all-day event by whole days, midnight to midnight in the event's own zone.
            local = event["timeZone"]
            start, end = at(days, 0, local), at(days + 1, 0, local)
            self.graph.update_event(MAILBOX, outlook_id, {"isAllDay": True, **graph_when(start, end, local)})
            expected = ("all-day", start.date(), end.date())
        else:
            start, end = at(days, 18, GRAPH_ZONES[zone]), at(days, 19, GRAPH_ZONES[zone])
            self.graph.update_event(MAILBOX, outlook_id, graph_when(start, end, zone))
            expected = timed_when(start, end)
        self.ledger.edit(event_id, "when", expected)
        self.log(f"outlook move {event_id[:6]} +{days}d ({expected[0]}, {zone})")

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

    # --- the same event changed on both sides before any run reads Outlook (where conflicts come from) ---
    @precondition(lambda self: self.events)
    @rule(data=st.data(), theirs=st.sampled_from(("title", "location", "when", "deleted")),
          ours=st.sampled_from(("title", "location", "when", "deleted")), days=st.sampled_from(WINDOW_DAYS),
          zone=st.sampled_from(sorted(GRAPH_ZONES)), title=st.sampled_from(TITLES), place=st.sampled_from(PLACES), retyped=st.booleans())
    def both_sides(self, data, theirs, ours, days, zone, title, place, retyped):
        """Outlook changes an event (its notification not delivered yet), then the supplier changes it in WedSync."""
        event_id = data.draw(st.sampled_from(self.events))
        self.log("both sides:")
        if theirs == "deleted":
            self.outlook_delete(Drawn(event_id))
        elif theirs == "when":
            self.outlook_move(Drawn(event_id), days, zone)
        else:
            self.outlook_edit(Drawn(event_id, title if theirs == "title" else place, retyped), theirs)
        if ours == "deleted":
            self.wedsync_delete(Drawn(event_id))
        elif ours == "when":
            self.wedsync_move(Drawn(event_id), days)
        else:
            self.wedsync_edit(Drawn(event_id, title if ours == "title" else place), ours)

    # --- the supplier's own Outlook events (busy blocks for WedSync; never changed by it) ---
    @rule(days=st.sampled_from(WINDOW_DAYS[:4]), zone=st.sampled_from(sorted(GRAPH_ZONES)), all_day=st.booleans(),
          show_as=st.sampled_from(("busy", "free", "tentative")))
    def outlook_own_create(self, days, zone, all_day, show_as):
        tz = GRAPH_ZONES[zone]
        start, end = (at(days, 0, tz), at(days + 1, 0, tz)) if all_day else (at(days, 13, tz), at(days, 14, tz))
        own = self.graph.create_event(MAILBOX, {"subject": f"Own {len(self.steps)}", "isAllDay": all_day, "showAs": show_as,
                                                **graph_when(start, end, zone)})
        self.own[own["id"]] = self.own_snapshot(own["id"])
        self.log(f"outlook own create {'all-day ' if all_day else ''}+{days}d {zone} {show_as}")

    @precondition(lambda self: self.own)
    @rule(data=st.data(), days=st.sampled_from(WINDOW_DAYS[:4]), action=st.sampled_from(("edit", "move", "delete")))
    def outlook_own_change(self, data, days, action):
        outlook_id = data.draw(st.sampled_from(list(self.own)))  # creation order: the same draw picks the same event on a replay
        if action == "delete":
            self.graph.delete_event(MAILBOX, outlook_id)
            del self.own[outlook_id]
        elif action == "edit":
            self.graph.update_event(MAILBOX, outlook_id, {"subject": f"Own edited {len(self.steps)}", "location": {"displayName": "Home"}})
            self.own[outlook_id] = self.own_snapshot(outlook_id)
        else:
            if self.own[outlook_id][2][0] == "all-day":
                self.graph.update_event(MAILBOX, outlook_id, {"isAllDay": True, **graph_when(at(days, 0), at(days + 1, 0))})
            else:
                self.graph.update_event(MAILBOX, outlook_id, graph_when(at(days, 7), at(days, 8)))
            self.own[outlook_id] = self.own_snapshot(outlook_id)
        self.log(f"outlook own {action} {outlook_id[-6:]}")

    # --- change notifications (Graph sent them to the tap; the machine decides their fate) ---
    @rule(fate=st.sampled_from(("delivered", "delivered", "lost", "duplicated", "delayed")))
    def notify(self, fate):
        batch = self.sent_notifications()
        if fate == "delayed":
            self.held += batch  # delivered at a later notify or settle, after newer ones
        elif fate != "lost":
            self.deliver(self.held + batch, twice=fate == "duplicated")
            self.held = []
        self.log(f"notifications {fate} ({len(batch)} POST(s))")

    def sent_notifications(self) -> list[tuple[str, bytes]]:
        """Every notification Graph has sent so far (it sends shortly after each change)."""
        if self.tap is None:
            return []
        wait_for(lambda: emulator_quiet(self.graph), timeout=30, interval=0.02, message="Graph to send its notifications")
        return self.tap.take()

    def deliver(self, batch: list[tuple[str, bytes]], *, twice: bool = False) -> None:
        microsoft = Client()  # Graph posts with no session or CSRF token
        for path, body in batch:
            for _ in range(2 if twice else 1):
                response = microsoft.post(path, body, content_type="application/json")
                # 403: a subscription of an earlier connection or calendar (Graph still retries those; refused)
                assert response.status_code in (202, 403), (path, response.status_code, response.content[:300])

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
        self.shown = {}  # (and settles what was in conflict: the supplier chose a side)
        self.log(f"direction round {direction}")

    # --- faults and runs ---
    @rule(kind=st.sampled_from(("batch503", "patch503", "delete503", "throttle", "batch429", "read_timeout", "write_timeout",
                                "dropped", "delta410")))
    def fault(self, kind):
        # Timeouts: the test sets GRAPH_TIMEOUT_SECONDS to TIMEOUT_SECONDS; Graph answers later than that (and a
        # PATCH it answers late is still applied: the client does not know whether its write happened).
        late = int(TIMEOUT_SECONDS * 1000) + 300
        if kind == "batch503":
            self.graph.inject_fault("POST", r"/\$batch", status=503, count=2, retry_after=0)
        elif kind == "patch503":
            self.graph.inject_fault("PATCH", r"/events/", status=503, count=3, retry_after=0)
        elif kind == "delete503":
            self.graph.inject_fault("DELETE", r"/events/", status=503, count=12, retry_after=0)
        elif kind == "throttle":
            self.graph.inject_fault("GET", r"/events", status=429, count=2, retry_after=0)
        elif kind == "batch429":
            self.graph.inject_fault("POST", r"/\$batch", status=429, count=2, retry_after=0)
        elif kind == "read_timeout":
            self.graph.inject_fault("GET", r"/calendarView|/events", latency_ms=late, count=1)
        elif kind == "write_timeout":
            self.graph.inject_fault("PATCH", r"/events/", latency_ms=late, count=1)
        elif kind == "dropped":
            self.graph.inject_fault("POST", r"/\$batch", drop_connection=True, count=1)
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
            self.deliver(self.held + self.sent_notifications())
            self.held = []
            self.sync("incremental")
            self.sync("full_sync" if round_ % 2 == 0 else "incremental")
            self.deliver(self.sent_notifications())
            found = convergence.problems(self.api_client, self.graph, supplier=self.supplier) + self.lost() + self.stuck() + self.touched()
            if not found:
                break
        return found + self.vanished()

    def stuck(self) -> list[str]:
        pending = OutlookNotification.objects.filter(integration__user=self.supplier, processed_at__isnull=True).count()
        return [f"{pending} notification(s) received but never processed"] if pending else []

    def touched(self) -> list[str]:
        """The supplier's own Outlook events are all there, exactly as the supplier left them; no other untagged event."""
        out = []
        integration_id = self.integration_id()
        outlook = {e["id"]: e for e in self.graph.events(MAILBOX)}
        for outlook_id, snapshot in self.own.items():
            if outlook_id not in outlook:
                out.append(f"the supplier's own Outlook event {snapshot[0]!r} was deleted")
            elif self.own_snapshot(outlook_id) != snapshot:
                out.append(f"the supplier's own Outlook event changed: {snapshot} -> {self.own_snapshot(outlook_id)}")
        for outlook_id, event in outlook.items():
            if outlook_id not in self.own and convergence._tag(event, integration_id) is None:
                out.append(f"untagged Outlook event {event['subject']!r} that the supplier never made")
        return out

    def vanished(self) -> list[str]:
        """Conflicts shown at the last settle that went away without the supplier deciding."""
        rows = {r["wedSyncEventId"]: r for r in convergence._pages(self.api_client, f"{BASE}/events", "events")}
        now = {event_id: {c["field"] for c in row.get("syncConflicts") or []} for event_id, row in rows.items() if row["syncStatus"] == "conflict"}
        # The supplier deleting it is deciding: in WedSync, or in Outlook once WedSync's side is deleted too (deleted on
        # both sides, nothing left to decide: the plan's R3b).
        out = [f"conflict on {sorted(fields)} of {event_id[:6]} vanished without the supplier deciding"
               for event_id, fields in self.shown.items()
               if event_id not in now and not (event_id in self.ledger.deleted and self.live(event_id) is None)]
        self.shown = now
        return out

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
                current = convergence._wedsync_when(event)
            else:
                current = event[name]
            if current != value:
                out.append(f"lost edit: {event_id[:6]} {name} should be {value!r} (or a conflict), is {current!r}")
        return out

    def integration_id(self) -> str:
        return self.api("get", f"{BASE}/sync")["integration"]["id"]

    # Every 4 actions (not "whenever len(steps) % 4 == 3": invariants run after every rule, and a rule with
    # nothing to do logs nothing, so that settled the same state again after each of them).
    @precondition(lambda self: len(self.steps) - self.settled_at >= 4)
    @invariant()
    def converges_after_settle(self):
        self.settled_at = len(self.steps)
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
            self.shown = {}  # resolved by the supplier
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
