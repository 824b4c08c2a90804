"""Fixtures of the fault matrix: a supplier with a realistic calendar, and edits on both sides."""
from __future__ import annotations

import datetime as dt
import time
import zlib
from dataclasses import dataclass, field

import pytest
from django.utils import timezone

from tests.conftest import MAILBOX, settle, wait_for
from tests.faults.convergence import SUMMARY_FILE, Edit, Scenario
from tests.integration.outlook_helpers import BASE, connect, wait_for_idle

LONDON = "Europe/London"
FMT = "%Y-%m-%dT%H:%M:%S.0000000"

#: (eventType, title) of the WedSync events every scenario starts with; more than one $batch of creates.
CALENDAR = [
    ("client_meeting", "Consultation with Priya & Sam"), ("venue_visit", "Walk-through at The Old Barn"),
    ("vendor_meeting", "Florist: table arrangements"), ("wedding_ceremony", "Ceremony: Priya & Sam"),
    ("wedding_reception", "Reception: Priya & Sam"), ("rehearsal", "Rehearsal at St Mary's"),
    ("engagement_shoot", "Engagement shoot, Kew"), ("task_due", "Send mood board"),
] * 3


def at(days: int, hour: int, minute: int = 0) -> dt.datetime:
    day = (timezone.now() + dt.timedelta(days=days)).date()
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=dt.timezone.utc)


def graph_when(start: dt.datetime, end: dt.datetime) -> dict:
    return {"start": {"dateTime": start.strftime(FMT), "timeZone": "UTC"}, "end": {"dateTime": end.strftime(FMT), "timeZone": "UTC"}}


@dataclass
class World:
    """The supplier's two calendars as a scenario sees them."""

    api_client: object
    graph: object
    supplier: object
    events: list[dict] = field(default_factory=list)
    mailbox: str = MAILBOX
    graph_url: str = ""
    ca_file: str = ""

    def create_event(self, event_type: str, title: str, start: dt.datetime, end: dt.datetime, **extra) -> dict:
        body = {"eventType": event_type, "title": title, "location": "The Old Barn", "startsAt": start.isoformat(), "endsAt": end.isoformat(),
                "timeZone": LONDON, "attendees": []} | extra
        response = self.api_client.post("/api/events/", body)
        assert response.status_code == 201, response.content
        return response.json()

    def populate(self, count: int = len(CALENDAR)) -> World:
        for n, (event_type, title) in enumerate(CALENDAR[:count]):
            start = at(2 + n // 4, 9 + 2 * (n % 4))
            self.events.append(self.create_event(event_type, f"{title} #{n}", start, start + dt.timedelta(hours=1)))
        self.events.append(self.create_event("deadline", "Final numbers to caterer", at(6, 0), at(7, 0), isAllDay=True))
        self.graph.create_event(self.mailbox, {"subject": "Dentist", **graph_when(at(3, 7), at(3, 8)), "showAs": "busy"})
        return self

    def connect(self, *, wait: bool = True, timeout: float = 90.0) -> dict:
        """Connect through the consent page and (by default) wait for the first full sync."""
        body = connect(self.api_client, self.graph, email=self.mailbox)
        if wait:
            wait_for_idle(self.api_client, timeout=timeout)
        return body

    def outlook_id(self, event_id: str) -> str:
        mapped = self.api_client.get(f"{BASE}/events", {"pageSize": 200}).json()["events"]
        return next(row["outlookEventId"] for row in mapped if row["wedSyncEventId"] == event_id)

    def patch(self, event_id: str, **changes) -> dict:
        response = self.api_client.patch(f"/api/events/{event_id}/", changes)
        assert response.status_code == 200, response.content
        return response.json()

    def edit_both_sides(self, *, offset: int = 0) -> list[Edit]:
        """A mix of edits on both sides; returns what must end up applied (or shown as a conflict).

        WedSync: retitle one, move one, delete one (pushed on commit). Outlook: change a location, move one,
        delete one of ours, retitle one that WedSync also retitles (a conflict) and add a private event.
        """
        e = self.events
        ids = [e[offset + n]["id"] for n in range(7)]
        outlook = {i: self.outlook_id(i) for i in ids}
        edits: list[Edit] = []
        # Outlook side first (as the supplier would, before the next sync).
        self.graph.update_event(self.mailbox, outlook[ids[0]], {"location": {"displayName": "Café Rouge, Bath"}})
        edits.append(Edit(ids[0], "location", "Café Rouge, Bath"))
        moved = (at(20, 15), at(20, 16))
        self.graph.update_event(self.mailbox, outlook[ids[1]], graph_when(*moved))
        edits.append(Edit(ids[1], "when", moved))
        self.graph.delete_event(self.mailbox, outlook[ids[2]])
        edits.append(Edit(ids[2], deleted=True))
        self.graph.update_event(self.mailbox, outlook[ids[3]], {"subject": "WedSync: Outlook's title"})
        self.graph.create_event(self.mailbox, {"subject": f"School run {offset}", **graph_when(at(4, 7), at(4, 8)), "showAs": "busy"})
        # WedSync side.
        self.patch(ids[3], title="WedSync's title")
        edits.append(Edit(ids[3], "title", "WedSync's title"))  # both sides changed the title: applied or a conflict
        self.patch(ids[4], title="Ceremony (new time)", startsAt=at(21, 11).isoformat(), endsAt=at(21, 12).isoformat())
        edits += [Edit(ids[4], "title", "Ceremony (new time)"), Edit(ids[4], "when", (at(21, 11), at(21, 12)))]
        self.patch(ids[5], location="The Orangery, Kew")
        edits.append(Edit(ids[5], "location", "The Orangery, Kew"))
        assert self.api_client.delete(f"/api/events/{ids[6]}/").status_code == 204
        edits.append(Edit(ids[6], deleted=True))
        new = self.create_event("vendor_meeting", f"Cake tasting {offset}", at(9, 10), at(9, 11))
        self.events.append(new)
        edits.append(Edit(new["id"], "title", f"Cake tasting {offset}"))
        return edits

    def edit_outlook_only(self, *, offset: int = 15) -> list[Edit]:
        """Edits made in Outlook only (nothing in WedSync, so no push run reads Outlook as a side effect)."""
        ids = [self.events[offset + n]["id"] for n in range(3)]
        outlook = {i: self.outlook_id(i) for i in ids}
        self.graph.update_event(self.mailbox, outlook[ids[0]], {"location": {"displayName": "Moved to the Orangery"}})
        moved = (at(22, 14), at(22, 15))
        self.graph.update_event(self.mailbox, outlook[ids[1]], graph_when(*moved))
        self.graph.delete_event(self.mailbox, outlook[ids[2]])
        return [Edit(ids[0], "location", "Moved to the Orangery"), Edit(ids[1], "when", moved), Edit(ids[2], deleted=True)]

    def scenario(self, name: str) -> Scenario:
        return Scenario(name, self.api_client, self.graph, self.supplier, mailbox=self.mailbox)


@pytest.fixture
def world(request, api_client, graph, supplier, emulator) -> World:
    """A supplier with 25 WedSync events and a private Outlook appointment, not connected yet.

    Graph misbehaves now and then throughout, as it does in production: the emulator's "realistic" fault
    profile (occasional 503/504 without Retry-After, slow answers, MailboxConcurrency 429s), seeded from the
    test's name so a failure replays; each scenario injects its own fault on top.
    """
    graph.set_config(fault_profile="realistic", fault_seed=zlib.crc32(request.node.nodeid.encode()))
    return World(api_client, graph, supplier, graph_url=emulator.graph_url, ca_file=emulator.ca_file).populate()


@pytest.fixture(autouse=True)
def _settle(api_client, graph):
    """Let queued work finish before the database is emptied for the next test; clear faults."""
    yield
    graph.clear_faults()
    settle(graph, timeout=90)
    if api_client.get(f"{BASE}/sync").status_code == 200:
        try:
            wait_for_idle(api_client, timeout=15)
        except AssertionError:
            pass  # a scenario that exposes a stuck run already failed for it


_SESSION_STARTED = time.time()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Print this run's fault summary lines (written by every xdist worker to test-artifacts/faults-summary.txt)."""
    if not SUMMARY_FILE.exists() or SUMMARY_FILE.stat().st_mtime < _SESSION_STARTED:
        return
    lines = SUMMARY_FILE.read_text().splitlines()
    if not lines or not lines[0].startswith("# pytest run "):
        return
    terminalreporter.section("fault matrix")
    for line in lines[1:]:
        terminalreporter.write_line(line)


__all__ = ["World", "at", "graph_when", "wait_for", "LONDON"]
