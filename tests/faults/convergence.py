"""The fault matrix's convergence check (written once) and its one summary line per scenario.

A scenario is "converged" when, with no sync run in progress:

* **both sides are equal**: every live WedSync event in the synced window whose
  type is switched on has exactly one Outlook event tagged with WedSync's
  extended property for it, and exactly one mapping pointing at that Outlook
  event; the Outlook subject is ``eventPrefix + title``, start and end are the
  same instants (the same dates for all-day events) and the location is the
  same — except for fields the mapping shows as a conflict;
* **no duplicate**: no two Outlook events share a ``transactionId``, no two are
  tagged for the same WedSync event, no tagged Outlook event is left for a
  WedSync event that is deleted or not synced, no mapping points at a missing
  Outlook event, no mapping is left pending or in error;
* **every edit applied or shown as a conflict**: for each edit the scenario made
  (``Edit``), the value is on both sides, or ``GET /api/calendar/outlook/events``
  lists the event with ``syncStatus == "conflict"`` on that field.

WedSync is read through ``/api/events/`` and ``/api/calendar/outlook/events``,
Outlook through the emulator's control API (what the supplier would see in
Outlook), so the check depends on no engine internals.
"""
from __future__ import annotations

import datetime as dt
import fcntl
import logging
import os
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from outlook_sync.models import OutlookSyncHistory
from outlook_sync.sync.mapping import TAG_PROPERTY_ID, TRAVEL_TAG_PREFIX, TYPE_SWITCH
from tests.conftest import MAILBOX, wait_for
from tests.integration.outlook_helpers import BASE

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
SUMMARY_FILE = ARTIFACTS / "faults-summary.txt"
#: One id per pytest run (shared by xdist workers), so the summary file holds the latest run only.
RUN_ID = os.environ.get("PYTEST_XDIST_TESTRUNUID") or uuid.uuid4().hex

FIELDS = ("title", "location", "when")


@dataclass(frozen=True)
class Edit:
    """An edit a scenario made: ``field`` of WedSync event ``event_id`` must end up as ``value`` on both sides (or in conflict).

    ``value`` is the title or location text, or ``(start, end)`` aware datetimes for ``when``;
    ``deleted=True`` means the event must be gone from both sides.
    """

    event_id: str
    field: str = ""
    value: Any = None
    deleted: bool = False


# --------------------------------------------------------------------------- reading both sides


def _parse_graph_time(value: dict) -> dt.datetime:
    """The emulator's control API answers in UTC: ``2026-06-20T16:00:00.0000000``."""
    text = value["dateTime"]
    whole, _, fraction = text.partition(".")
    parsed = dt.datetime.fromisoformat(whole)
    zone = value.get("timeZone") or "UTC"
    assert zone in ("UTC", "Etc/UTC", "Coordinated Universal Time"), f"control API answered in {zone}"
    return parsed.replace(tzinfo=dt.timezone.utc)


def _tag(event: dict, integration_id: str | None = None) -> str | None:
    """The WedSync event id an Outlook event is tagged for by this integration (tags are ``<integration id>:<event id>``)."""
    for prop in event.get("singleValueExtendedProperties") or []:
        if str(prop.get("id", "")).lower() == TAG_PROPERTY_ID.lower():
            value = prop.get("value") or ""
            if integration_id is None:
                return value.split(":", 1)[1] if ":" in value and not value.startswith(TRAVEL_TAG_PREFIX) else value
            own = f"{integration_id}:"
            return value[len(own):] if value.startswith(own) else None
    return None


def _pages(api_client, path: str, key: str, **query) -> list[dict]:
    items, page = [], 1
    while True:
        response = api_client.get(path, {**query, "page": page, "pageSize": 200})
        assert response.status_code == 200, (path, response.status_code, response.content[:500])
        body = response.json()
        items += body[key]
        if page >= body["pagination"]["totalPages"]:
            return items
        page += 1


def _synced_type(event_type: str, prefs: dict) -> bool:
    switch = TYPE_SWITCH.get(event_type)
    return bool(switch and prefs.get(switch, True))


def _window() -> tuple[dt.datetime, dt.datetime]:
    now = timezone.now()
    return now - dt.timedelta(days=settings.SYNC_WINDOW_PAST_DAYS - 1), now + dt.timedelta(days=settings.SYNC_WINDOW_FUTURE_DAYS - 1)


def _instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _wedsync_when(event: dict):
    starts, ends = _instant(event["startsAt"]), _instant(event["endsAt"])
    if event["isAllDay"]:
        from zoneinfo import ZoneInfo

        zone = ZoneInfo(event.get("timeZone") or "UTC")
        start_day = starts.astimezone(zone).date()
        end_local = ends.astimezone(zone)
        end_day = end_local.date() if end_local.time() == dt.time() else end_local.date() + dt.timedelta(days=1)
        return ("all-day", start_day, max(end_day, start_day + dt.timedelta(days=1)))
    return ("timed", starts, ends)


def _outlook_when(event: dict):
    starts, ends = _parse_graph_time(event["start"]), _parse_graph_time(event["end"])
    if event.get("isAllDay"):
        return ("all-day", starts.date(), ends.date())
    return ("timed", starts, ends)


def problems(api_client, graph, *, supplier, mailbox: str = MAILBOX, edits: list[Edit] = ()) -> list[str]:
    """Everything that is not converged yet (an empty list means converged)."""
    found: list[str] = []
    running = list(OutlookSyncHistory.objects.filter(integration__user=supplier, sync_status="in_progress").values_list("id", "sync_type", "is_queued"))
    if running:
        found.append(f"sync runs still in progress: {running}")
    status = api_client.get(f"{BASE}/sync")
    if status.status_code != 200:
        return [*found, f"GET /sync answered {status.status_code}: {status.content[:200]!r}"]
    integration = status.json()["integration"]
    if integration["needsReauthorization"]:
        found.append("integration needs reauthorization")
    prefs = integration["syncPreferences"]
    prefix = prefs.get("eventPrefix", "")
    start, end = _window()
    wedsync = {e["id"]: e for e in api_client.get("/api/events/", {"start": start.isoformat(), "end": end.isoformat()}).json()["events"]}
    mapped = _pages(api_client, f"{BASE}/events", "events")
    # A delete-vs-edit conflict waits for the supplier: its survivor may have no copy, its copy no live event.
    delete_conflicts = {r["wedSyncEventId"] for r in mapped if r["syncStatus"] == "conflict" and any(c["field"] == "deleted" for c in r.get("syncConflicts") or [])}
    expected_ids = {event_id for event_id, e in wedsync.items() if _synced_type(e["eventType"], prefs)} - delete_conflicts
    # Events outside the window keep their copy (leaving the window deletes nothing).
    far = now_ = timezone.now()
    everywhere = api_client.get("/api/events/", {"start": (now_ - dt.timedelta(days=3650)).isoformat(), "end": (far + dt.timedelta(days=3650)).isoformat()}).json()["events"]
    live_anywhere = {e["id"] for e in everywhere if _synced_type(e["eventType"], prefs)}
    outlook = graph.events(mailbox)
    by_id = {e["id"]: e for e in outlook}

    # --- no duplicate ---
    for transaction_id, count in Counter(e.get("transactionId") for e in outlook if e.get("transactionId")).items():
        if count > 1:
            found.append(f"{count} Outlook events share transactionId {transaction_id}")
    tagged: dict[str, list[dict]] = {}
    for event in outlook:
        tag = _tag(event, integration["id"])
        if tag and not tag.startswith(TRAVEL_TAG_PREFIX):
            tagged.setdefault(tag, []).append(event)
    for tag, events in tagged.items():
        if tag not in expected_ids and tag not in delete_conflicts and tag not in live_anywhere:
            found.append(f"Outlook event(s) {[e['subject'] for e in events]} tagged for WedSync event {tag}, which is deleted or not synced")
    rows_by_event: dict[str, list[dict]] = {}
    for row in mapped:
        rows_by_event.setdefault(row["wedSyncEventId"], []).append(row)
        out_of_window = row["wedSyncEventId"] not in wedsync and row["wedSyncEventId"] in live_anywhere
        if row["outlookEventId"] not in by_id and not out_of_window and row["wedSyncEventId"] not in delete_conflicts:
            # (Outside the window nothing is read until the event returns: a delete there is seen then.)
            found.append(f"mapping of {row['wedSyncEventId']} points at missing Outlook event {row['outlookEventId'][:16]}…")
        if row["syncStatus"] in ("pending", "error"):
            found.append(f"mapping of {row['wedSyncEventId']} ({row['wedSyncEventTitle']!r}) is {row['syncStatus']}")

    # --- both sides equal ---
    for event_id in sorted(expected_ids):
        event = wedsync[event_id]
        copies = tagged.get(event_id, [])
        rows = rows_by_event.get(event_id, [])
        if len(copies) != 1:
            found.append(f"{len(copies)} Outlook events for {event['title']!r} ({event_id})")
        if len(rows) != 1:
            found.append(f"{len(rows)} mappings for {event['title']!r} ({event_id})")
        if len(copies) != 1 or len(rows) != 1:
            continue
        copy, row = copies[0], rows[0]
        if row["outlookEventId"] != copy["id"]:
            found.append(f"mapping of {event['title']!r} points at another Outlook event than the tagged one")
        conflicted = {c["field"] for c in row.get("syncConflicts") or []} if row["syncStatus"] == "conflict" else set()
        if "title" not in conflicted and copy["subject"] != f"{prefix}{event['title']}":
            found.append(f"title differs: WedSync {event['title']!r}, Outlook {copy['subject']!r}")
        if "location" not in conflicted and (copy.get("location") or {}).get("displayName", "") != (event["location"] or ""):
            found.append(f"location of {event['title']!r} differs: WedSync {event['location']!r}, Outlook {(copy.get('location') or {}).get('displayName')!r}")
        if "when" not in conflicted and _wedsync_when(event) != _outlook_when(copy):
            found.append(f"time of {event['title']!r} differs: WedSync {_wedsync_when(event)}, Outlook {_outlook_when(copy)}")

    # --- every edit applied or shown as a conflict ---
    rows_flat = {row["wedSyncEventId"]: row for row in mapped}
    for edit in edits:
        row = rows_flat.get(edit.event_id)
        if edit.deleted:
            if edit.event_id in wedsync:
                found.append(f"deleted event {edit.event_id} ({wedsync[edit.event_id]['title']!r}) is still live in WedSync")
            if tagged.get(edit.event_id):
                found.append(f"deleted event {edit.event_id} is still in Outlook")
            continue
        event = wedsync.get(edit.event_id)
        if event is None:
            found.append(f"edited event {edit.event_id} is gone from WedSync")
            continue
        if row is not None and row["syncStatus"] == "conflict" and edit.field in {c["field"] for c in row.get("syncConflicts") or []}:
            continue  # shown to the supplier as a conflict
        if edit.field == "title":
            ok = event["title"] == edit.value
        elif edit.field == "location":
            ok = event["location"] == edit.value
        elif edit.field == "when":
            ok = (_instant(event["startsAt"]), _instant(event["endsAt"])) == tuple(edit.value)
        else:
            raise ValueError(edit.field)
        if not ok:
            found.append(f"edit {edit.field}={edit.value!r} of {edit.event_id} neither applied in WedSync nor shown as a conflict")
    return found


def is_conflict(api_client, event_id: str, field_name: str) -> bool:
    row = next((r for r in _pages(api_client, f"{BASE}/events", "events") if r["wedSyncEventId"] == event_id), None)
    return bool(row and row["syncStatus"] == "conflict" and field_name in {c["field"] for c in row.get("syncConflicts") or []})


# --------------------------------------------------------------------------- a scenario and its summary line


class _RetryCounter(logging.Handler):
    """Counts the Graph client's "retrying" log lines (worker threads of this process included)."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record):
        if "retrying" in record.getMessage():
            self.count += 1


@dataclass
class Scenario:
    """Times one fault scenario from ``start()`` to convergence and writes its summary line."""

    name: str
    api_client: Any
    graph: Any
    supplier: Any
    mailbox: str = MAILBOX
    #: Log files of worker processes started by the scenario (their "retrying" lines count too).
    worker_logs: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    started: float = 0.0
    started_at: dt.datetime | None = None
    _counter: _RetryCounter | None = None
    _old_level: int | None = None

    def start(self) -> Scenario:
        self.graph.reset_stats()
        self.started = time.monotonic()
        self.started_at = timezone.now()
        self._counter = _RetryCounter()
        client_logger = logging.getLogger("outlook_sync.graph.client")
        self._old_level = client_logger.level
        if client_logger.getEffectiveLevel() > logging.INFO:
            client_logger.setLevel(logging.INFO)
        client_logger.addHandler(self._counter)
        return self

    def stop(self) -> None:
        if self._counter is not None:
            client_logger = logging.getLogger("outlook_sync.graph.client")
            client_logger.removeHandler(self._counter)
            client_logger.setLevel(self._old_level or logging.NOTSET)

    def retries(self) -> int:
        count = self._counter.count if self._counter else 0
        for path in self.worker_logs:
            if path.exists():
                count += sum("retrying" in line for line in path.read_text(errors="replace").splitlines())
        return count

    def runs(self) -> int:
        return OutlookSyncHistory.objects.filter(integration__user=self.supplier, started_at__gte=self.started_at).count()

    def converge(self, *, timeout: float = 60.0, edits: list[Edit] = (), safety_net_every: float | None = None, interval: float = 0.3) -> float:
        """Wait until :func:`problems` is empty; write the summary line; return the seconds since ``start()``.

        ``safety_net_every``: when idle and not converged, run the beat's safety-net sync this often
        (for scenarios where only the periodic sync can catch up, e.g. lost notifications).
        """
        state = {"last_nudge": float("-inf"), "nudges": 0, "found": []}

        def converged() -> bool:
            found = state["found"] = problems(self.api_client, self.graph, supplier=self.supplier, mailbox=self.mailbox, edits=list(edits))
            idle = not any("in progress" in p for p in found)
            if found and safety_net_every is not None and idle and time.monotonic() - state["last_nudge"] >= safety_net_every:
                from outlook_sync.tasks import safety_net_sync

                safety_net_sync.delay()
                state["nudges"] += 1
                state["last_nudge"] = time.monotonic()
            return not found

        try:
            wait_for(converged, timeout=timeout, interval=interval, message=f"{self.name} to converge")
        except AssertionError:
            found = state["found"]
            self.summary(converged=False, extra=f"{len(found)} problem(s), first: {found[0] if found else '?'}")
            raise AssertionError(f"FAULT {self.name}: not converged after {timeout:.0f} s:\n  " + "\n  ".join(found[:25])) from None
        nudges = state["nudges"]
        elapsed = time.monotonic() - self.started
        if nudges:
            self.notes.append(f"{nudges} safety-net sync(s)")
        self.summary(converged=True, elapsed=elapsed)
        return elapsed

    def summary(self, *, converged: bool, elapsed: float | None = None, extra: str = "") -> str:
        stats = self.graph.stats()
        elapsed = time.monotonic() - self.started if elapsed is None else elapsed
        statuses = {k: v for k, v in stats.get("status_counts", {}).items() if k not in ("200", "201", "202", "204")}
        item_statuses = {k: v for k, v in stats.get("batch_item_status_counts", {}).items() if k not in ("200", "201", "202", "204")}
        details = [f"{stats.get('batch_items', 0)} batch items", f"HTTP {statuses}" if statuses else "", f"items {item_statuses}" if item_statuses else "",
                   f"token refreshes {stats.get('token_requests', {}).get('refresh_token', 0)}", *self.notes, extra]
        verdict = f"converged in {elapsed:.1f} s" if converged else f"NOT converged after {elapsed:.1f} s"
        line = (f"FAULT {self.name}: {verdict}, {self.runs()} runs, {stats.get('requests', 0)} Graph requests, {self.retries()} retries"
                f" ({'; '.join(d for d in details if d)})")
        write_summary(line)
        return line


def write_summary(line: str) -> None:
    """Append to test-artifacts/faults-summary.txt (started afresh by the first line of each pytest run) and print."""
    ARTIFACTS.mkdir(exist_ok=True)
    header = f"# pytest run {RUN_ID}\n"
    with open(SUMMARY_FILE, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        if handle.readline() != header:
            handle.seek(0)
            handle.truncate()
            handle.write(header)
        handle.seek(0, os.SEEK_END)
        handle.write(line + "\n")
        handle.flush()
        fcntl.flock(handle, fcntl.LOCK_UN)
    print(line)
